"""Configuration: the typed model (`model`) and its TOML store (`store`)."""

from proxy.config.model import Config, ConfigError

__all__ = ["Config", "ConfigError"]
