"""Steel industry pack: the blast-furnace thermal-state agent. Keep this module light."""

from agentarts.plugins import IndustryPack

PACK = IndustryPack(
    name="steel",
    title="Steel: blast-furnace thermal state",
    description="Predict HMT 2 h ahead, detect abnormal states early, propose multi-lever "
    "moves an operator approves (demo: --hours more than 8, at most 720, default 72).",
    template="agentarts.templates:steel",
    demo="agentarts.industries.steel.demo:run_demo",
    model_repository="agentarts.industries.steel:models",
    tools="agentarts.industries.steel.tools:TOOLS",
    agent="agentarts.industries.steel.agent:agent",
    train="agentarts.industries.steel.train:train_command",
    panels="agentarts.server.panels:steel_panels",
)
