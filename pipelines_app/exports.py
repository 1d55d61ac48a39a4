"""The pipelines section of a registry backup (see ``kernel.backup``)."""

SECTION, ORDER = "pipelines", 20


def section():
    from kernel.backup import DefinitionSection
    from pipelines_app.models import Pipeline

    return DefinitionSection(Pipeline)
