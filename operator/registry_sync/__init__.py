"""registry-sync: keeps what is deployed, what the Model Registry says and what
model-testing pipelines are told naming the same model."""

__version__ = "0.1.0"
