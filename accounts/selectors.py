from django.db.models import Q

from accounts.models import Block


def block_exists(a_id: int, b_id: int) -> bool:
    """True when either of the two blocks the other."""
    return Block.objects.filter(Q(blocker_id=a_id, blocked_id=b_id) | Q(blocker_id=b_id, blocked_id=a_id)).exists()
