"""A faithful stand-in for EvoLink's Veo 3.1 API: validation, task lifecycle, real MP4s, faults and a ledger."""

from veo_mcp.simulator.app import Simulator
from veo_mcp.simulator.engine import SimulatorConfig
from veo_mcp.simulator.faults import Fault
from veo_mcp.simulator.transport import IN_PROCESS_BASE_URL, SimulatorTransport

__all__ = ["IN_PROCESS_BASE_URL", "Fault", "Simulator", "SimulatorConfig", "SimulatorTransport"]
