-- Face identity science: verification calibrations and identity-preservation (FaceSim-Arc) evaluations.
CREATE TABLE calibrations (
    calibration_id VARCHAR PRIMARY KEY,
    face_model VARCHAR NOT NULL,
    source VARCHAR NOT NULL,            -- the pairs or identities file
    images_dir VARCHAR,
    n_images INTEGER NOT NULL,
    n_no_face INTEGER NOT NULL,         -- images in which the model found no face (their pairs are skipped)
    no_face_files JSON,
    n_unreadable INTEGER NOT NULL,
    n_distractor_faces INTEGER NOT NULL, -- faces of people absent from the labels, adding different-person pairs
    n_genuine INTEGER NOT NULL,         -- scored same-person pairs
    n_impostor INTEGER NOT NULL,        -- scored different-person pairs
    n_skipped INTEGER NOT NULL,         -- pairs with an image without a face
    auc DOUBLE NOT NULL,
    eer DOUBLE NOT NULL,
    eer_threshold DOUBLE NOT NULL,
    threshold_far_1e2 DOUBLE,           -- lowest cosine with measured FAR <= 1e-2 (rule: score >= threshold)
    threshold_far_1e3 DOUBLE,
    best_accuracy DOUBLE NOT NULL,
    best_accuracy_threshold DOUBLE NOT NULL,
    current_threshold DOUBLE NOT NULL,  -- the threshold in use when calibrating
    accuracy_at_current DOUBLE NOT NULL,
    genuine_min DOUBLE NOT NULL,
    impostor_max DOUBLE NOT NULL,
    recommended_threshold DOUBLE NOT NULL,
    run_id VARCHAR,
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE calibration_pairs (
    calibration_id VARCHAR NOT NULL,
    file_a VARCHAR NOT NULL,
    file_b VARCHAR NOT NULL,
    same BOOLEAN NOT NULL,
    score DOUBLE NOT NULL               -- cosine of the two largest faces
);
CREATE TABLE identity_evaluations (
    evaluation_id VARCHAR PRIMARY KEY,
    face_model VARCHAR NOT NULL,
    reference VARCHAR NOT NULL,         -- CHAR tag or image path
    reference_kind VARCHAR NOT NULL,    -- tag | image
    output_path VARCHAR NOT NULL,
    output_kind VARCHAR NOT NULL,       -- image | video
    n_frames INTEGER NOT NULL,          -- 1 for an image, up to 16 sampled frames for a video
    n_no_face INTEGER NOT NULL,
    facesim_mean DOUBLE,                -- FaceSim-Arc: mean of max(cosine, 0) over frames with a face
    facesim_min DOUBLE,
    no_face_rate DOUBLE NOT NULL,
    run_id VARCHAR,
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE identity_evaluation_frames (
    evaluation_id VARCHAR NOT NULL,
    frame_index INTEGER NOT NULL,       -- index in the video (0 for an image)
    score DOUBLE                        -- clipped cosine; NULL when the frame has no face
);

-- Face quality with its derived flags (bounds as in refbench.quality: BEST_WIDTH_BAND, FRONTAL_YAW_DEG).
CREATE VIEW v_face_quality AS
SELECT i.file_name AS image_file, f.face_id, f.face_model, f.det_score, f.width_frac,
       f.width_frac BETWEEN 0.15 AND 0.25 AS in_best_band,
       f.yaw,
       CASE WHEN abs(f.yaw) < 15 THEN 'camera' WHEN f.yaw > 0 THEN 'right' ELSE 'left' END AS facing,
       f.sharpness, f.exposure, f.quality_score, f.crop_path, f.image_id
FROM faces f
JOIN images i USING (image_id);
