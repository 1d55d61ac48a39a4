"""The pipelines section of a registry backup (see ``registry_project.backup``)."""

SECTION, ORDER = "pipelines", 20


def section():
    from pipelines_app.models import Pipeline
    from registry_project.backup import DefinitionSection

    return DefinitionSection(Pipeline)
