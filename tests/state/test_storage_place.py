"""The startup line that says where state lives, and the warning for a disk a deploy wipes."""
from __future__ import annotations

from pathlib import Path

from state.boot import BootConfig
from state.storage_place import ephemeral_reason, mount_of, where_state_lives

# a container: the root is overlay, /data is a volume (ext4), /tmp is tmpfs
CONTAINER = """\
22 1 0:45 / / rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w
23 22 0:21 / /proc rw - proc proc rw
30 22 8:1 /volumes/data /data rw,relatime - ext4 /dev/sda1 rw
31 22 0:50 / /tmp rw - tmpfs tmpfs rw
32 22 8:1 /x /my\\040data rw - ext4 /dev/sda1 rw
"""
# a VM: the root is ext4
VM = "21 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"


def _boot(data_dir: str, **env: str) -> BootConfig:
    return BootConfig.from_env({"DATA_DIR": data_dir, **env}, dotenv=False)


def test_the_longest_mount_point_holds_the_path() -> None:
    assert mount_of(Path("/data/accounts.db"), CONTAINER) == ("/data", "ext4")
    assert mount_of(Path("/database/accounts.db"), CONTAINER) == ("/", "overlay")
    assert mount_of(Path("/my data/a.db"), CONTAINER) == ("/my data", "ext4")


def test_sqlite_in_the_container_root_or_memory_is_ephemeral() -> None:
    reason = ephemeral_reason(_boot("/app/data"), mountinfo=CONTAINER, environ={})
    assert reason is not None and "overlay" in reason and "DATABASE_URL" in reason
    assert "tmpfs" in ephemeral_reason(_boot("/tmp/d"), mountinfo=CONTAINER, environ={})


def test_a_volume_a_vm_disk_or_a_server_database_is_not() -> None:
    assert ephemeral_reason(_boot("/data"), mountinfo=CONTAINER, environ={}) is None
    assert ephemeral_reason(_boot("/srv/data"), mountinfo=VM, environ={}) is None
    assert ephemeral_reason(_boot("/app/data", DATABASE_URL="postgresql://u:p@db/x"),
                            mountinfo=CONTAINER, environ={}) is None


def test_render_without_a_disk_is_ephemeral_with_one_it_is_not() -> None:
    render_disk = VM + "40 21 8:16 / /var/data rw - ext4 /dev/sdb rw\n"
    assert "Render" in ephemeral_reason(_boot("/opt/render/project/src/data"),
                                        mountinfo=render_disk, environ={"RENDER": "true"})
    assert ephemeral_reason(_boot("/var/data"), mountinfo=render_disk,
                            environ={"RENDER": "true"}) is None


def test_the_line_names_the_place_without_the_password(tmp_path: Path) -> None:
    line = where_state_lives(_boot(str(tmp_path)))
    assert line.startswith("state: ") and str(tmp_path / "accounts.db") in line
    line = where_state_lives(_boot(str(tmp_path), DATABASE_URL="postgresql://u:s3cret@db:5432/g",
                                   REDIS_URL="redis://:hunter2@r:6379/0"))
    assert "s3cret" not in line and "hunter2" not in line
    assert "db:5432/g" in line and "Redis" in line
