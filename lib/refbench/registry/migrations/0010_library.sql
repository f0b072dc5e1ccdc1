-- Asset library (issue 12): declared assets beside detected ones, what search reads per asset (vectors, text,
-- OCR lines), perceptual hashes and near-duplicate links per image, and automatic scene placements.
ALTER TABLE assets ADD COLUMN origin VARCHAR DEFAULT 'detected';  -- detected | declared (refbench assets add)
ALTER TABLE assets ADD COLUMN has_alpha BOOLEAN DEFAULT FALSE;    -- the crop is a PNG with transparency, kept
ALTER TABLE assets ADD COLUMN type_reason VARCHAR;                -- "declared" or the rule that gave the type

-- One row per indexed asset; a crop whose bytes changed (content_sha256) is indexed again.
CREATE TABLE asset_index (
    asset_id VARCHAR PRIMARY KEY,
    content_sha256 VARCHAR NOT NULL,
    visual_model VARCHAR NOT NULL,      -- efficientnet-lite0 | clip-onnx | open-clip
    text_model VARCHAR NOT NULL,        -- minilm-l6
    ocr_engine VARCHAR,                 -- NULL: OCR was not run
    visual FLOAT[] NOT NULL,            -- L2-normalised image embedding of the crop
    colour FLOAT[] NOT NULL,            -- L2-normalised sqrt Lab histogram (4x6x6)
    text_vector FLOAT[] NOT NULL,       -- L2-normalised sentence embedding of `document`
    document VARCHAR NOT NULL,          -- what text search matches: name, type, class, description, OCR, colours
    text_basis VARCHAR NOT NULL,        -- sha256 of the asset facts in `document`: a rename re-embeds the text only
    ocr_text VARCHAR,
    colours VARCHAR[],
    classes JSON,                       -- ImageNet top-5 [{label, probability}] (EfficientNet only)
    run_id VARCHAR,
    indexed_at TIMESTAMP DEFAULT current_timestamp
);
CREATE TABLE asset_ocr (
    asset_id VARCHAR NOT NULL,
    line INTEGER NOT NULL,
    text VARCHAR NOT NULL,
    confidence FLOAT NOT NULL,
    bbox FLOAT[4] NOT NULL,             -- xyxy in the crop's pixels
    quad FLOAT[8] NOT NULL,             -- the 4 corners (x, y) as the recogniser read them
    PRIMARY KEY (asset_id, line)
);
CREATE TABLE image_hashes (
    image_id VARCHAR PRIMARY KEY,
    phash VARCHAR NOT NULL,             -- 64-bit DCT hash, 16 hex digits
    dhash VARCHAR NOT NULL,
    visual_model VARCHAR NOT NULL,
    visual FLOAT[] NOT NULL,            -- embedding of the whole image
    run_id VARCHAR
);
-- A near-duplicate stays registered, linked to the earlier image it repeats (one row per method that fired).
CREATE TABLE near_duplicates (
    image_id VARCHAR NOT NULL,
    duplicate_of VARCHAR NOT NULL,
    distance DOUBLE NOT NULL,           -- phash: differing bits; visual: 1 - cosine
    method VARCHAR NOT NULL,            -- phash | visual
    run_id VARCHAR,
    PRIMARY KEY (image_id, method)
);
CREATE TABLE auto_placements (
    scene_id VARCHAR NOT NULL,
    tag VARCHAR NOT NULL,
    role VARCHAR NOT NULL,
    confidence FLOAT NOT NULL,
    reason VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,            -- the plan run that added them
    created_at TIMESTAMP DEFAULT current_timestamp,
    PRIMARY KEY (run_id, scene_id, tag)
);

CREATE VIEW v_near_duplicates AS
SELECT i.file_name AS image_file, o.file_name AS duplicate_of, n.distance, n.method,
       n.image_id, n.duplicate_of AS duplicate_of_id, i.stored_path AS image_path, o.stored_path AS duplicate_of_path
FROM near_duplicates n
JOIN images i ON i.image_id = n.image_id
JOIN images o ON o.image_id = n.duplicate_of;

CREATE OR REPLACE VIEW v_assets AS
SELECT a.tag, a.asset_type, a.name, i.file_name AS source_image_file, a.crop_path, a.quality_score,
       a.reverse_prompt, a.visual_description, a.suggested_name, a.suitability,
       a.asset_id, a.identity_id, a.detection_id, a.source_image_id, i.stored_path AS source_image_path,
       a.origin, a.has_alpha, a.type_reason
FROM assets a
JOIN images i ON i.image_id = a.source_image_id
WHERE a.active;
