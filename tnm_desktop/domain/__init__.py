"""Domain types shared by the GUI, the agent and the data adapters. Qt-free, I/O-free."""

from tnm_desktop.domain.ea import EaProject, EaVersion, NewVersion, VersionOrigin
from tnm_desktop.domain.jobs import (
    AccountSnapshot,
    ClaimedJob,
    DealRecord,
    Job,
    JobFilter,
    JobRequest,
    JobStatus,
    JobType,
    SyncReport,
)
from tnm_desktop.domain.people import (
    Agent,
    AgentCredentials,
    AgentState,
    PairingKeyHashes,
    Profile,
    Session,
    UserSettings,
)
from tnm_desktop.domain.trading import (
    BrokerConnection,
    BrokerConnectionDraft,
    Signal,
    SignalCursor,
    SignalFilter,
    SignalStatus,
    Strategy,
    StrategyDraft,
    StrategyStats,
    SyncHealth,
    SyncLog,
    TradingAccount,
)

__all__ = [
    "AccountSnapshot", "Agent", "AgentCredentials", "AgentState", "BrokerConnection", "BrokerConnectionDraft",
    "ClaimedJob", "DealRecord", "EaProject", "EaVersion", "Job", "JobFilter", "JobRequest", "JobStatus",
    "JobType", "NewVersion", "PairingKeyHashes", "Profile", "Session", "Signal", "SignalCursor",
    "SignalFilter", "SignalStatus", "Strategy", "StrategyDraft", "StrategyStats", "SyncHealth", "SyncLog",
    "SyncReport", "TradingAccount", "UserSettings", "VersionOrigin",
]
