"""The S3 endpoint: SigV4, S3 XML, one module per operation family."""
