-- Brand controls (issue 13): logo verdicts per asset, each logo's position preference, the overlays made, and
-- the estimated cost of each planned scene.
CREATE TABLE logo_verdicts (
    asset_id VARCHAR PRIMARY KEY,
    content_sha256 VARCHAR NOT NULL,    -- the crop judged: a changed crop is judged again
    is_logo BOOLEAN NOT NULL,
    confidence DOUBLE NOT NULL,         -- P(logo) from refbench.brand.logos
    reasons VARCHAR[] NOT NULL,         -- strongest evidence first, "+ ..." for, "- ..." against
    evidence JSON NOT NULL,             -- every measured value (LogoEvidence)
    text_read BOOLEAN NOT NULL,         -- whether OCR text was part of the evidence
    run_id VARCHAR,
    judged_at TIMESTAMP DEFAULT current_timestamp
);
CREATE TABLE logo_preferences (
    asset_id VARCHAR PRIMARY KEY,
    corner VARCHAR NOT NULL,            -- auto | top-left | top-right | bottom-left | bottom-right
    set_at TIMESTAMP DEFAULT current_timestamp
);
CREATE TABLE overlays (
    overlay_id VARCHAR PRIMARY KEY,
    run_id VARCHAR,
    logo VARCHAR NOT NULL,              -- the tag or file given
    logo_asset_id VARCHAR,              -- when the logo is an asset
    target VARCHAR NOT NULL,
    out_path VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,              -- image | video
    xywh INTEGER[4] NOT NULL,
    corner VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    width_px INTEGER NOT NULL,
    resampling VARCHAR NOT NULL,        -- native | vector | area | lanczos
    opacity DOUBLE NOT NULL,
    blend VARCHAR NOT NULL,             -- srgb | linear
    frames INTEGER,                     -- video: frames written
    created_at TIMESTAMP DEFAULT current_timestamp
);
CREATE TABLE plan_costs (
    run_id VARCHAR NOT NULL,
    scene_id VARCHAR NOT NULL,
    item VARCHAR NOT NULL,              -- video | storyboard_images | clean_sheets | descriptions
    model VARCHAR NOT NULL,
    variant VARCHAR NOT NULL,           -- resolution or image size
    quantity DOUBLE NOT NULL,
    unit VARCHAR NOT NULL,              -- second | image | asset
    unit_usd DOUBLE,                    -- NULL: no price known for it
    usd DOUBLE,
    tier VARCHAR,
    price_table_date VARCHAR NOT NULL,
    PRIMARY KEY (run_id, scene_id, item)
);

CREATE VIEW v_logos AS
SELECT a.tag, a.name, a.asset_type, v.is_logo, v.confidence, v.reasons, coalesce(p.corner, 'auto') AS position_preference,
       a.crop_path, a.asset_id, v.text_read, v.judged_at
FROM assets a
JOIN logo_verdicts v ON v.asset_id = a.asset_id
LEFT JOIN logo_preferences p ON p.asset_id = a.asset_id
WHERE a.active;

CREATE VIEW v_plan_costs AS
SELECT run_id, scene_id, sum(usd) AS usd, count(*) FILTER (WHERE unit_usd IS NULL) AS unpriced_items,
       any_value(tier) AS tier, any_value(price_table_date) AS price_table_date
FROM plan_costs
GROUP BY run_id, scene_id;
