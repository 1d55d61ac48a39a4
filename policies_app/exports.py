"""The policies section of a registry backup (see ``registry_project.backup``)."""

SECTION, ORDER = "policies", 30


def section():
    from policies_app.models import Policy
    from registry_project.backup import DefinitionSection

    return DefinitionSection(Policy)
