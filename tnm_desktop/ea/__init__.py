"""The EA toolchain: compile, deploy, run, stop and test MQL5 Expert Advisors; EA templates.

Qt-free. Two toolchains implement :class:`EaToolchain`: the real one (MetaEditor and the
MetaTrader 5 terminal, Windows) and the simulated one; the composition root picks one
(:func:`tnm_desktop.composition.toolchain.make_toolchain`).
"""

from tnm_desktop.ea.port import (
    SIMULATED_COMPILER,
    SIMULATED_TERMINAL,
    SIMULATED_TESTER,
    BalancePoint,
    CompileResult,
    DeployResult,
    Diagnostic,
    EaInput,
    EaToolchain,
    ReportFormat,
    RunRequest,
    RunResult,
    Severity,
    StopResult,
    TestReport,
    TestRequest,
    TickModel,
    ToolchainKind,
)
from tnm_desktop.ea.templates import (
    EaTemplate,
    TemplateParameter,
    get_template,
    list_templates,
    render_template,
    validate_parameters,
)

__all__ = [
    "SIMULATED_COMPILER", "SIMULATED_TERMINAL", "SIMULATED_TESTER", "BalancePoint", "CompileResult", "DeployResult",
    "Diagnostic", "EaInput", "EaTemplate", "EaToolchain", "ReportFormat", "RunRequest", "RunResult", "Severity",
    "StopResult", "TemplateParameter", "TestReport", "TestRequest", "TickModel", "ToolchainKind",
    "get_template", "list_templates", "render_template", "validate_parameters",
]
