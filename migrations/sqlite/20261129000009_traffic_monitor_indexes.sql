-- Indexes for the Traffic Monitor at a million records and more (plans checked with EXPLAIN
-- in docs/BENCHMARKS.md): the chart reads (at, verdict) from the index alone; the score sort
-- and the model and provider filters walk an index instead of sorting or scanning the table.
DROP INDEX traffic_at;
CREATE INDEX traffic_at_verdict ON traffic (at, verdict);
CREATE INDEX traffic_score_at ON traffic ((COALESCE(score, -1)), at, id);
CREATE INDEX traffic_model_at ON traffic (model, at);
CREATE INDEX traffic_provider_at ON traffic (provider, at);
