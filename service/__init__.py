"""BentoML service over the forecast library; entry point `service.service:Forecaster`."""
