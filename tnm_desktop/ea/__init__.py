"""The EA toolchain: compile, deploy, run, stop and test MQL5 Expert Advisors; EA templates.

Qt-free. :func:`make_toolchain` picks the real toolchain (MetaEditor and the MetaTrader 5
terminal, Windows) or the simulated one; both implement :class:`EaToolchain`.
"""

from tnm_desktop.ea.factory import ToolchainConfig, make_toolchain, why_simulated
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
    "StopResult", "TemplateParameter", "TestReport", "TestRequest", "TickModel", "ToolchainConfig",
    "ToolchainKind", "get_template", "list_templates", "make_toolchain", "render_template", "validate_parameters",
    "why_simulated",
]
