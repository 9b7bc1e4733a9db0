"""The `config` check: the NEXUS_* settings and `nexus.toml` parse, and there is a tenant."""

from __future__ import annotations

from nexus.doctor.report import CheckReport, Installation


def check(installation: Installation, report: CheckReport) -> None:
    """Check that the NEXUS_* settings and nexus.toml parse and name a tenant."""
    settings = installation.settings()
    report.passed.append("the NEXUS_* settings parse")
    config = installation.config()
    if config.source_path is None:
        report.notes.append(
            f"no {settings.config} here: the built-in defaults apply "
            "(`nexus init` writes them to a file you can edit; NEXUS_CONFIG points at it)"
        )
    where = str(config.source_path) if config.source_path else "the built-in configuration"
    enabled = sum(1 for p in config.producers.values() if p.enabled)
    report.passed.append(
        f"{where} parses: {len(config.enabled_feeds)} feeds mirrored, "
        f"{enabled} producers enabled, {len(config.products)} products"
    )
    tenants = installation.tenants()
    report.passed.append("serves tenant " + ", ".join(str(t) for t in tenants))
