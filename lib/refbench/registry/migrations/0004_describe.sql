-- Asset descriptions: a cache of results by content, and one row per describer call.
-- The cache key is sha256 of "<content_sha256>|<backend>|<model>|<prompt_version>": an unchanged crop is not
-- described again by the same model and prompts. Only final results are cached (ok, blocked); errors and
-- malformed answers are retried by the next run.
CREATE TABLE descriptions (
    cache_key VARCHAR PRIMARY KEY,
    content_sha256 VARCHAR NOT NULL,    -- of the crop file's bytes
    backend VARCHAR NOT NULL,           -- local | gemini
    model VARCHAR NOT NULL,
    prompt_version VARCHAR NOT NULL,
    status VARCHAR NOT NULL,            -- ok | blocked
    reason VARCHAR,
    reverse_prompt VARCHAR,
    visual_description VARCHAR,
    suggested_name VARCHAR,
    suitability FLOAT,                  -- 1..10
    details JSON,                       -- type-specific fields (pose, colours, key elements, ...)
    created_at TIMESTAMP DEFAULT current_timestamp
);
CREATE TABLE description_calls (
    call_id VARCHAR PRIMARY KEY,
    run_id VARCHAR,
    asset_id VARCHAR NOT NULL,
    cache_key VARCHAR,
    content_sha256 VARCHAR,
    backend VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    prompt_version VARCHAR NOT NULL,
    status VARCHAR NOT NULL,            -- ok | blocked | malformed | error
    reason VARCHAR,                     -- block reason, parse error or last API error; never a secret
    tokens_in INTEGER,                  -- usage_metadata.prompt_token_count summed over attempts
    tokens_out INTEGER,                 -- candidates + thoughts tokens summed over attempts
    cost_usd DOUBLE,                    -- estimate from the price table; NULL when the model's price is unknown
    attempts INTEGER,
    seconds DOUBLE,
    created_at TIMESTAMP DEFAULT current_timestamp
);

-- The latest call per asset with its tag: what reports show next to v_assets.
CREATE VIEW v_description_calls AS
SELECT a.tag, a.asset_type, c.asset_id, c.status, c.reason, c.backend, c.model, c.prompt_version, c.tokens_in,
       c.tokens_out, c.cost_usd, c.attempts, c.seconds, c.run_id, c.created_at
FROM description_calls c
JOIN assets a USING (asset_id)
QUALIFY row_number() OVER (PARTITION BY c.asset_id ORDER BY c.created_at DESC, c.call_id DESC) = 1;
