"""The CDC archive: stream records to S3, the stream follower, and replay from the archive."""
