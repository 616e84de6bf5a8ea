"""Weather pack: a learned forecast emulator beside its numerical model, and site alerts a duty
forecaster approves. Keep this module light (it is imported to list the packs)."""

from agentarts.plugins import IndustryPack

PACK = IndustryPack(
    name="weather",
    title="Weather: forecast emulator and site alerts",
    description="Forecast 5 days with an ONNX emulator of a two-layer QG model, score it "
    "against persistence, climatology and the numerical model, and draft CAP alerts for rail "
    "lines, wind farms and grids that a forecaster approves.",
    template="agentarts.templates:weather",
    demo="agentarts.industries.weather.demo:run_demo",
    model_repository="agentarts.industries.weather:models",
    tools="agentarts.industries.weather.tools:TOOLS",
    agent="agentarts.industries.weather.agent:agent",
    train="agentarts.industries.weather.train:train_command",
    panels="agentarts.server.panels_packs:weather_panels",
)
