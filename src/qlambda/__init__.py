"""qlambda: a hybrid classical-quantum serverless platform, and a simulator to plan it."""

__version__ = "0.1.0"
