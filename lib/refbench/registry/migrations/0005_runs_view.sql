-- One row per run for notebooks and `refbench runs`: duration and the run-level metrics.
-- Run-level metrics are those without a step or label; a name logged twice is averaged.
CREATE VIEW v_runs AS
WITH run_metrics AS (
    SELECT run_id, name, avg(value) AS value
    FROM metrics
    WHERE step IS NULL AND label IS NULL
    GROUP BY run_id, name
)
SELECT r.run_id, r.kind, r.status, r.started_at, r.finished_at,
       date_diff('millisecond', r.started_at, r.finished_at) / 1000.0 AS duration_s,
       r.git_commit, r.execution_provider, r.parameters, r.versions, r.error,
       coalesce((SELECT map(list(m.name ORDER BY m.name), list(m.value ORDER BY m.name))
                 FROM run_metrics m WHERE m.run_id = r.run_id), MAP {}::MAP(VARCHAR, DOUBLE)) AS metrics,
       (SELECT count(*) FROM metrics m WHERE m.run_id = r.run_id) AS n_metrics,
       (SELECT m.value FROM run_metrics m WHERE m.run_id = r.run_id AND m.name = 'images_total') AS images_total,
       (SELECT m.value FROM run_metrics m WHERE m.run_id = r.run_id AND m.name = 'faces') AS faces,
       (SELECT m.value FROM run_metrics m WHERE m.run_id = r.run_id AND m.name = 'identities') AS identities,
       (SELECT sum(m.value) FROM run_metrics m WHERE m.run_id = r.run_id AND starts_with(m.name, 'seconds_'))
           AS seconds_total
FROM runs r;
