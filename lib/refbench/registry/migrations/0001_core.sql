-- Core registry: runs, images, rejections, detections, faces, identities, assets.
CREATE TABLE runs (
    run_id VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,              -- manifest | calibrate | report | bench | ...
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    status VARCHAR NOT NULL,            -- running | completed | failed
    git_commit VARCHAR,
    parameters JSON,
    versions JSON,                      -- code and model versions
    execution_provider VARCHAR,
    error VARCHAR
);
CREATE TABLE metrics (
    run_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    value DOUBLE,
    unit VARCHAR,
    step INTEGER,
    label VARCHAR
);
CREATE TABLE images (
    image_id VARCHAR PRIMARY KEY,       -- sha256 of the original bytes
    file_name VARCHAR NOT NULL,
    source_path VARCHAR NOT NULL,
    stored_path VARCHAR NOT NULL,       -- read-only copy inside the workspace
    width INTEGER NOT NULL,             -- upright, after EXIF orientation
    height INTEGER NOT NULL,
    format VARCHAR,
    mode VARCHAR,
    exif_orientation INTEGER,
    n_bytes BIGINT,
    run_id VARCHAR,
    ingested_at TIMESTAMP DEFAULT current_timestamp
);
CREATE TABLE rejections (
    rejection_id VARCHAR PRIMARY KEY,   -- sha256 of source path + content hash: one row per bad file version
    source_path VARCHAR NOT NULL,
    file_name VARCHAR NOT NULL,
    code VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    n_bytes BIGINT,
    content_sha256 VARCHAR,
    run_id VARCHAR,
    rejected_at TIMESTAMP DEFAULT current_timestamp
);
-- Which image went through which stage with which backend: makes re-runs incremental.
CREATE TABLE processed (
    image_id VARCHAR NOT NULL,
    stage VARCHAR NOT NULL,             -- objects | faces
    backend VARCHAR NOT NULL,
    run_id VARCHAR,
    PRIMARY KEY (image_id, stage, backend)
);
CREATE TABLE detections (
    detection_id VARCHAR PRIMARY KEY,
    image_id VARCHAR NOT NULL,
    detector VARCHAR NOT NULL,
    class_id INTEGER NOT NULL,
    class_name VARCHAR NOT NULL,
    confidence FLOAT NOT NULL,
    bbox FLOAT[4] NOT NULL,             -- xyxy, pixels of the upright original
    crop_path VARCHAR
);
CREATE TABLE faces (
    face_id VARCHAR PRIMARY KEY,
    image_id VARCHAR NOT NULL,
    face_model VARCHAR NOT NULL,
    bbox FLOAT[4] NOT NULL,
    landmarks FLOAT[10] NOT NULL,       -- 5 points (x, y): left eye, right eye, nose, mouth left, mouth right
    det_score FLOAT NOT NULL,
    embedding FLOAT[512] NOT NULL,      -- L2-normalized; zero-padded past embedding_dim
    embedding_dim INTEGER NOT NULL,
    crop_path VARCHAR,
    width_frac FLOAT,                   -- face width / image width
    yaw FLOAT,                          -- signed, from landmarks: > 0 nose towards the image's right edge
    sharpness FLOAT,                    -- variance of the Laplacian of the face crop
    exposure FLOAT,                     -- mean luma of the face crop in [0, 1]
    quality_score FLOAT                 -- in [0, 1], see refbench.quality
);
CREATE TABLE identities (
    identity_id VARCHAR PRIMARY KEY,    -- <face_model>/<tag>
    face_model VARCHAR NOT NULL,
    tag VARCHAR NOT NULL,
    threshold FLOAT NOT NULL,           -- cosine similarity threshold of the clustering that made it
    n_faces INTEGER NOT NULL,
    best_face_id VARCHAR,
    run_id VARCHAR
);
CREATE TABLE face_identity (
    face_id VARCHAR PRIMARY KEY,
    identity_id VARCHAR NOT NULL
);
CREATE TABLE assets (
    asset_id VARCHAR PRIMARY KEY,       -- identity_id, detection_id or image_id it stands for
    tag VARCHAR NOT NULL,               -- CHAR_01, PROP_02, VEH_01, ANIM_01, ENV_01 (unique among active)
    asset_type VARCHAR NOT NULL,        -- character | prop | vehicle | animal | environment
    name VARCHAR NOT NULL,
    source_image_id VARCHAR NOT NULL,
    detection_id VARCHAR,
    identity_id VARCHAR,
    crop_path VARCHAR NOT NULL,
    quality_score FLOAT,
    reverse_prompt VARCHAR,
    visual_description VARCHAR,
    suggested_name VARCHAR,
    suitability FLOAT,                  -- 1..10 as a generator reference
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP DEFAULT current_timestamp
);
CREATE TABLE artifacts (
    path VARCHAR PRIMARY KEY,           -- contact sheets and other run outputs
    kind VARCHAR NOT NULL,
    run_id VARCHAR,
    created_at TIMESTAMP DEFAULT current_timestamp
);

CREATE VIEW v_faces AS
SELECT i.file_name AS image_file, f.face_id, f.bbox, f.det_score, a.tag AS identity_tag,
       f.face_model, f.landmarks, f.width_frac, f.yaw, f.sharpness, f.exposure, f.quality_score,
       f.crop_path, f.image_id, fi.identity_id
FROM faces f
JOIN images i USING (image_id)
LEFT JOIN face_identity fi USING (face_id)
LEFT JOIN identities d ON d.identity_id = fi.identity_id
LEFT JOIN assets a ON a.identity_id = d.identity_id AND a.active;

CREATE VIEW v_assets AS
SELECT a.tag, a.asset_type, a.name, i.file_name AS source_image_file, a.crop_path, a.quality_score,
       a.reverse_prompt, a.visual_description, a.suggested_name, a.suitability,
       a.asset_id, a.identity_id, a.detection_id, a.source_image_id, i.stored_path AS source_image_path
FROM assets a
JOIN images i ON i.image_id = a.source_image_id
WHERE a.active;

-- The same-person threshold each face model uses by default in this workspace (set by calibration).
CREATE TABLE face_thresholds (
    face_model VARCHAR PRIMARY KEY,
    threshold FLOAT NOT NULL,
    source VARCHAR NOT NULL,            -- e.g. calibration id
    set_at TIMESTAMP DEFAULT current_timestamp
);
