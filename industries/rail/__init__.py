"""Rail industry pack: trackside undercarriage inspection. Keep this module light."""

from agentarts.plugins import IndustryPack

PACK = IndustryPack(
    name="rail",
    title="Rail: trackside undercarriage inspection",
    description="Triage every camera crop of a passing train, flag suspected faults for a "
    "person to confirm, raise work orders for confirmed ones.",
    template="agentarts.templates:rail",
    demo="agentarts.industries.rail.demo:run_demo",
    model_repository="agentarts.industries.rail:models",
    tools="agentarts.industries.rail.tools:TOOLS",
    agent="agentarts.industries.rail.agent:agent",
    train="agentarts.industries.rail.train:train_command",
    panels="agentarts.server.panels_packs:rail_panels",
)
