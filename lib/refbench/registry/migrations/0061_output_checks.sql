-- Output checks beside FaceSim-Arc (issue 14): face size against the 15-25% band, signed yaw, and whether the face
-- turns the other way than an orientation image (both clearly turned). Videos: per sampled frame, and summarised.
ALTER TABLE identity_evaluations ADD COLUMN face_width_frac DOUBLE;   -- median over frames with a face
ALTER TABLE identity_evaluations ADD COLUMN in_size_band BOOLEAN;     -- median width inside 15-25%
ALTER TABLE identity_evaluations ADD COLUMN yaw DOUBLE;               -- median, > 0: nose towards the right edge
ALTER TABLE identity_evaluations ADD COLUMN mirrored BOOLEAN;         -- majority of decidable frames; NULL: undecidable
ALTER TABLE identity_evaluations ADD COLUMN orientation_from VARCHAR; -- the orientation image, when given
ALTER TABLE identity_evaluations ADD COLUMN orientation_yaw DOUBLE;
ALTER TABLE identity_evaluation_frames ADD COLUMN face_width_frac DOUBLE;
ALTER TABLE identity_evaluation_frames ADD COLUMN yaw DOUBLE;
ALTER TABLE identity_evaluation_frames ADD COLUMN mirrored BOOLEAN;
