-- Incremental runs: files seen before are skipped by path, size and mtime (no hashing), contact-sheet pages
-- are redrawn only when what they show changed, and identities are re-linked only where new faces land.

-- Every file a manifest run has settled: an image of the registry, or a rejection.
CREATE TABLE sources (
    source_path VARCHAR PRIMARY KEY,
    n_bytes BIGINT NOT NULL,
    mtime_ns BIGINT NOT NULL,
    image_id VARCHAR,                   -- the registered image it holds (NULL for a rejected file)
    rejection_code VARCHAR,             -- why it was refused (NULL for an image)
    run_id VARCHAR
);

-- What a file shows, as a digest: a contact-sheet page is redrawn when its digest changes.
ALTER TABLE artifacts ADD COLUMN signature VARCHAR;

-- The clustering each face model's identities come from: a run with the same threshold and the same
-- corrections only re-links the identities new faces land near.
CREATE TABLE identity_state (
    face_model VARCHAR PRIMARY KEY,
    threshold FLOAT NOT NULL,
    curation_version VARCHAR NOT NULL,  -- active events when it was clustered (refbench.curation.version)
    n_faces BIGINT NOT NULL,
    method VARCHAR NOT NULL,            -- full | incremental
    run_id VARCHAR
);
