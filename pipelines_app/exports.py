"""The pipelines section of a registry backup (see ``kernel.backup``)."""

SECTION, ORDER = "pipelines", 20


def section():
    from pipelines_app.models import Pipeline
    from kernel.backup import DefinitionSection

    return DefinitionSection(Pipeline)
