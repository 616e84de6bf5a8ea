"""Example third-party industry pack (cement kilns). Keep this module light."""

from agentarts.plugins import IndustryPack

PACK = IndustryPack(
    name="cement",
    title="Cement kiln energy",
    description="Specific heat consumption of a clinker kiln against best-practice bands.",
    template="acme_cement_pack:template",
    demo="acme_cement_pack.demo:run",
    tools="acme_cement_pack.demo:TOOLS",
)
