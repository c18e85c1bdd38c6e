"""Many boards: MQTT publisher with its disk queue, the collector, bundles, the systemd service."""
