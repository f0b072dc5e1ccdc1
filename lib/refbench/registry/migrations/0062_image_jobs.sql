-- Checked image generation (issue 14): generated views (clean-sheet tier 4), the matched-portrait identity image and
-- image chains. A job has steps, a step has up to 3 attempts; every attempt keeps its checks, cost and error.
CREATE TABLE image_jobs (
    job_id VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,              -- multi_angle | identity_image | chain
    tag VARCHAR,                        -- the character (NULL for a chain)
    status VARCHAR NOT NULL,            -- ok | failed | stopped | refused
    model VARCHAR,
    parameters JSON,
    cost_usd DOUBLE NOT NULL,           -- every attempt of every step
    message VARCHAR,
    run_id VARCHAR,
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE image_steps (
    job_id VARCHAR NOT NULL,
    step INTEGER NOT NULL,              -- order within the job, from 1
    name VARCHAR NOT NULL,              -- view:profile_left | generic | portrait | final | <scene id>[:start|:end]
    prompt VARCHAR NOT NULL,
    inputs JSON NOT NULL,               -- images sent after the prompt, in order: role, source, size, pixel digest
    status VARCHAR NOT NULL,            -- ok | failed | skipped
    output_path VARCHAR,                -- the accepted output (NULL when no attempt passed)
    attempts INTEGER NOT NULL,
    cost_usd DOUBLE NOT NULL,
    message VARCHAR,
    PRIMARY KEY (job_id, step)
);
CREATE TABLE image_attempts (
    job_id VARCHAR NOT NULL,
    step INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    output_path VARCHAR,                -- NULL when the service returned no image
    ok BOOLEAN NOT NULL,
    checks JSON NOT NULL,               -- [{name, ok, value, message}]
    facesim DOUBLE,                     -- ArcFace cosine to the identity (clipped at 0)
    yaw DOUBLE,                         -- > 0: nose towards the image's right edge
    face_width_frac DOUBLE,
    cost_usd DOUBLE,
    tokens_in INTEGER,
    tokens_out INTEGER,
    api_attempts INTEGER,               -- HTTP attempts of the shared retry policy
    seconds DOUBLE,
    error VARCHAR,
    PRIMARY KEY (job_id, step, attempt)
);
-- Clean sheets of one view (tier 4) sit beside the asset's primary sheet and never replace it.
ALTER TABLE clean_references ADD COLUMN view VARCHAR;

CREATE VIEW v_image_attempts AS
SELECT j.kind, j.tag, j.job_id, j.run_id, s.step, s.name AS step_name, s.status AS step_status, a.attempt, a.ok,
       a.output_path, a.facesim, a.yaw, a.face_width_frac, a.cost_usd, a.tokens_in, a.tokens_out, a.api_attempts,
       a.seconds, a.error, a.checks
FROM image_jobs j
JOIN image_steps s USING (job_id)
JOIN image_attempts a USING (job_id, step);
