-- View sheets of characters (issue 14): per standard view the best face, named from the subject's point of view
-- (three_quarter_left: head turned to the subject's own left, nose towards the image's right edge, yaw > 0).
CREATE TABLE view_sheets (
    sheet_id VARCHAR PRIMARY KEY,
    tag VARCHAR NOT NULL,
    identity_id VARCHAR,
    face_model VARCHAR NOT NULL,
    path VARCHAR NOT NULL,              -- the PNG sheet
    n_faces INTEGER NOT NULL,           -- faces of the identity that were binned
    missing VARCHAR[] NOT NULL,         -- views without an image (advice: refbench.faces.pose.VIEWS)
    run_id VARCHAR,
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE view_sheet_images (
    sheet_id VARCHAR NOT NULL,
    view VARCHAR NOT NULL,              -- front | three_quarter_left | three_quarter_right | profile_left | profile_right
    source VARCHAR NOT NULL,            -- photo | generated
    path VARCHAR NOT NULL,              -- face crop of the photo, or the generated image
    yaw FLOAT,                          -- signed, > 0: nose towards the image's right edge
    width_frac FLOAT,
    quality_score FLOAT,
    similarity FLOAT,                   -- generated views: ArcFace cosine to the identity
    face_id VARCHAR,
    image_file VARCHAR,
    n_candidates INTEGER,               -- faces of the identity in this view
    PRIMARY KEY (sheet_id, view)
);

-- The newest sheet of each tag, one row per view it holds: what selection and notebooks read.
CREATE VIEW v_character_views AS
WITH newest AS (
    SELECT * FROM view_sheets
    QUALIFY row_number() OVER (PARTITION BY tag ORDER BY created_at DESC, sheet_id DESC) = 1
)
SELECT s.tag, i.view, i.source, i.path, i.yaw, i.width_frac, i.quality_score, i.similarity, i.face_id, i.image_file,
       i.n_candidates, s.sheet_id, s.path AS sheet_path, s.missing, s.run_id, s.created_at
FROM newest s
JOIN view_sheet_images i USING (sheet_id);
