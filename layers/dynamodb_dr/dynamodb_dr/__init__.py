"""dynamodb-dr domain package: the code shared by every Lambda function through the layer."""

__version__ = "0.1.0"
