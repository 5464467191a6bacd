-- What the shield found in the model's answer to a scanned request (a JSON shield::ScanResult),
-- written after the answer went out; NULL where the answer was not scanned (BYPASSED, no
-- answer text, or the process stopped before the scan).
ALTER TABLE traffic ADD COLUMN response_scan TEXT;
