"""The policies section of a registry backup (see ``kernel.backup``)."""

SECTION, ORDER = "policies", 30


def section():
    from policies_app.models import Policy
    from kernel.backup import DefinitionSection

    return DefinitionSection(Policy)
