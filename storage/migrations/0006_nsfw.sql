-- The NSFW filter's verdict on each image, stored with it.

ALTER TABLE images ADD COLUMN nsfw INTEGER NOT NULL DEFAULT 0;
