"""Turns a :class:`nlspn_ros.ros.launch_plan.Plan` into launch actions: the only code that imports launch.

Every launch file in launch/ is ``launch_description("<its file name>")``: its arguments are
declared from :data:`nlspn_ros.ros.launch_plan.ARGUMENTS` (so ``ros2 launch ... --show-args`` lists
exactly what is used), and once their values are known an OpaqueFunction asks
:func:`nlspn_ros.ros.launch_plan.plan` what to start. Parameter overrides keep the Python type the plan
gave them (``ParameterValue(value, value_type=type(value))``): a string is never re-read as YAML.
"""
from __future__ import annotations

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from launch import Action, LaunchContext, LaunchDescription
from nlspn_ros.ros.launch_plan import PACKAGE, NodeLaunch, arguments, plan


def _node(spec: NodeLaunch) -> Node:
    parameters = [p if isinstance(p, str) else {k: ParameterValue(v, value_type=type(v))
                                                  for k, v in p.items()} for p in spec.parameters]
    return Node(package=spec.package, executable=spec.executable, name=spec.name,
                namespace=spec.namespace, parameters=parameters, remappings=list(spec.remappings),
                arguments=list(spec.arguments), output="screen", emulate_tty=True)


def launch_description(launch_file: str) -> LaunchDescription:
    share = get_package_share_directory(PACKAGE)
    declared = arguments(launch_file, share)

    def actions(context: LaunchContext) -> list[Action]:
        values = {a.name: LaunchConfiguration(a.name).perform(context) for a in declared}
        started = plan(launch_file, values, share)
        return [
            *(SetEnvironmentVariable(name, value) for name, value in started.environment.items()),
            *(_node(spec) for spec in started.nodes),
            *(ExecuteProcess(cmd=list(cmd), output="screen") for cmd in started.processes),
        ]

    return LaunchDescription([
        *(DeclareLaunchArgument(a.name, description=a.description,
                                **({} if a.default is None else {"default_value": a.default}))
          for a in declared),
        OpaqueFunction(function=actions),
    ])
