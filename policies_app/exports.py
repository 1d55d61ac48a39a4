"""The policies section of a registry backup (see ``kernel.backup``)."""

SECTION, ORDER = "policies", 30


def section():
    from kernel.backup import DefinitionSection
    from policies_app.models import Policy

    return DefinitionSection(Policy)
