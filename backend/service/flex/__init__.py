"""DSX Flex 1.7: grid load targets received, met with the fewest tokens lost, and the outcome
published (``NVIDIA/dsx-exchange``, ``schemas/asyncapi/dsx-flex/dsx-flex.yaml``)."""
