-- Curation: a user's corrections as events (refbench.curation replays them into constraints), and the asset
-- overrides they give. The overrides are a projection of the active events, rewritten after every change;
-- the events are what is kept.
CREATE TABLE curation_events (
    seq BIGINT PRIMARY KEY,             -- 1, 2, ... in the order the corrections were made
    kind VARCHAR NOT NULL,              -- rename_identity | merge | split | set_reference | rename_asset | retype
                                        -- | exclude_asset | exclude_image | describe (refbench.curation.EVENT_KINDS)
    face_model VARCHAR,                 -- the face model whose face ids the payload names (identity events)
    payload JSON NOT NULL,              -- tags, names, and a snapshot of the faces the event was about
    command VARCHAR NOT NULL,           -- how it was asked: the command line, or the Python call
    run_id VARCHAR,
    created_at TIMESTAMP NOT NULL,
    undone_at TIMESTAMP,                -- set by `refbench identities undo`; undone events are skipped
    undone_by VARCHAR                   -- run id of that undo
);

ALTER TABLE assets ADD COLUMN user_name VARCHAR;         -- a name the user gave (wins over `name`)
ALTER TABLE assets ADD COLUMN user_type VARCHAR;         -- a type the user gave (wins over `asset_type`)
ALTER TABLE assets ADD COLUMN excluded BOOLEAN DEFAULT FALSE;  -- excluded by the user: no reference

CREATE OR REPLACE VIEW v_assets AS
SELECT a.tag, coalesce(a.user_type, a.asset_type) AS asset_type, coalesce(a.user_name, a.name) AS name,
       i.file_name AS source_image_file, a.crop_path, a.quality_score,
       a.reverse_prompt, a.visual_description, a.suggested_name, a.suitability,
       a.asset_id, a.identity_id, a.detection_id, a.source_image_id, i.stored_path AS source_image_path,
       a.origin, a.has_alpha, a.type_reason,
       a.user_name IS NOT NULL AS named_by_user, a.asset_type AS detected_type
FROM assets a
JOIN images i ON i.image_id = a.source_image_id
WHERE a.active AND NOT a.excluded;

CREATE VIEW v_curation_events AS
SELECT seq, kind, face_model, payload, command, run_id, created_at, undone_at IS NOT NULL AS undone, undone_by
FROM curation_events;
