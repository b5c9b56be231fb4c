-- Where an image lives is a naming convention of one module (storage/images.py:
-- images/<job id>/<index>.png under DATA_DIR), not also a stored path that could say
-- otherwise: the column goes.

ALTER TABLE images DROP COLUMN path;
