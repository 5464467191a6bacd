-- Which detectors ran on a record and which parts of the request they read (a JSON
-- shield::Coverage); NULL where nothing was scanned (BYPASSED) and for records from before.
ALTER TABLE traffic ADD COLUMN scan_coverage TEXT;
