"""Simulated Huawei Ascend NPUs: device ``profiles`` (published figures, HBM accounting), the
roofline ``costmodel`` per ONNX node and the capacity ``planner``. The profile names are
re-exported here (their import path before the runtime had folders)."""

from agentarts.runtime.devices.profiles import (
    PROFILES,
    DeviceCard,
    DevicePool,
    DeviceProfile,
    human_bytes,
    parse_devices,
)

__all__ = ["PROFILES", "DeviceCard", "DevicePool", "DeviceProfile", "human_bytes", "parse_devices"]
