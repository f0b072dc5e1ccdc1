-- Reference selection per scene, clean reference sheets, and validated generation requests (issue 4).
CREATE TABLE scene_selections (
    selection_id VARCHAR PRIMARY KEY,
    scene_id VARCHAR NOT NULL,
    shot_type VARCHAR NOT NULL,
    max_refs INTEGER NOT NULL,
    tags VARCHAR[] NOT NULL,            -- chosen tags, in slot order
    pins VARCHAR[] NOT NULL,            -- manual overrides: always chosen
    unpins VARCHAR[] NOT NULL,          -- manual overrides: never chosen
    run_id VARCHAR,
    created_at TIMESTAMP DEFAULT current_timestamp
);
-- Every candidate the selector considered: chosen ones with their slot, dropped ones with the reason.
CREATE TABLE selection_slots (
    selection_id VARCHAR NOT NULL,
    tag VARCHAR NOT NULL,
    slot INTEGER,                       -- 1..max_refs when chosen, NULL when dropped
    role VARCHAR,
    variant VARCHAR,                    -- face_crop | full_body | object_crop | environment | clean_tier2 ...
    image_path VARCHAR,
    quality FLOAT,
    pinned BOOLEAN NOT NULL DEFAULT FALSE,
    reason VARCHAR NOT NULL,
    PRIMARY KEY (selection_id, tag)
);
-- Clean sheets live beside the originals: derived files, never replacements.
CREATE TABLE clean_references (
    clean_id VARCHAR PRIMARY KEY,
    asset_id VARCHAR NOT NULL,
    tag VARCHAR NOT NULL,
    tier INTEGER NOT NULL,              -- 1 original | 2 background removed on gray | 3 generative
    method VARCHAR NOT NULL,
    path VARCHAR NOT NULL,
    prompt VARCHAR,
    similarity FLOAT,                   -- ArcFace cosine to the identity (tier 3)
    threshold FLOAT,
    attempts INTEGER,
    cost DOUBLE,                        -- seconds of compute or API units, see unit
    cost_unit VARCHAR,
    is_primary BOOLEAN NOT NULL DEFAULT FALSE,
    status VARCHAR NOT NULL,            -- ok | failed
    message VARCHAR,
    run_id VARCHAR,
    created_at TIMESTAMP DEFAULT current_timestamp
);
CREATE TABLE generation_requests (
    request_id VARCHAR PRIMARY KEY,
    scene_id VARCHAR NOT NULL,
    selection_id VARCHAR,
    generator VARCHAR NOT NULL,         -- veo | image_chain
    model VARCHAR NOT NULL,
    mode VARCHAR NOT NULL,              -- gemini | vertex
    request JSON NOT NULL,              -- exact request, image bytes replaced by size + sha256
    valid BOOLEAN NOT NULL,
    checks JSON NOT NULL,               -- [{name, ok, message}]
    status VARCHAR NOT NULL,            -- planned | refused | submitted | done | failed
    operation_name VARCHAR,
    outputs VARCHAR[],
    error VARCHAR,
    run_id VARCHAR,
    created_at TIMESTAMP DEFAULT current_timestamp
);
