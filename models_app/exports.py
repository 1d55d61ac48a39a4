"""The models section of a registry backup (see ``registry_project.backup``)."""

SECTION, ORDER = "models", 10


def section():
    from models_app.models import Model
    from registry_project.backup import DefinitionSection

    return DefinitionSection(Model)
