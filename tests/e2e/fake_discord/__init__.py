"""A fake Discord that speaks the real protocol, for end-to-end tests of the real bot process.

Test code only: the product never imports it. ``FakeDiscord`` is an aiohttp server on
127.0.0.1 (an ephemeral port) that runs on its own event loop in a background thread. It
serves the REST API v10 under ``/api/v10`` and a gateway websocket at ``/gateway`` (JSON
text frames, no compression). Point discord.py at it with::

    discord.http.Route.BASE = f"{fake.url}/api/v10"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)

(``tests/e2e/launcher.py`` does this in the bot's process).

What it enforces, with Discord's statuses and error codes
---------------------------------------------------------
- the first response to an interaction within ``ack_deadline`` (3 s): else 404 / 10062;
- interaction tokens live ``token_lifetime`` (15 min): else 401 / 50027;
- a second initial response: 400 / 40060; a followup or ``@original`` before any: 404 / 10015;
- message content at most 2000 characters, at most 5 action rows of at most 5 buttons,
  ``custom_id`` 1..100 characters and unique in a message, labels at most 80 characters,
  at most 10 attachments: 400 / 50035 "Invalid Form Body" with an ``errors`` object;
- each file at most ``attachment_size_limit`` (sent in every INTERACTION_CREATE): 413 / 40005;
- an empty message: 400 / 50006; an unknown message: 404 / 10008; unknown channel: 10003;
- REST routes of the bot (not webhooks) need ``Authorization: Bot ...``: else 401 / 0.

Every route it does not serve answers 404 ``{"message": "404: Not Found", "code": 0}`` and
is recorded in ``unexpected``; every rejected request is recorded in ``rejected``; an
interaction never acknowledged and an exception inside the fake are recorded too.
``problems()`` lists them all as lines; the ``fake_discord`` fixture fails a test that
leaves any (``allow_rejections(*codes)`` accepts the ones a test provokes on purpose).

Driver API (thread-safe, synchronous; call it from plain test functions)
------------------------------------------------------------------------
Server: ``start()``, ``stop()``, ``url``, ``gateway_url``, ``application_id``,
``bot_user_id``, ``guild_id``, ``other_guild_id``, ``attachment_size_limit`` (settable),
``token_lifetime``.

Two servers (guilds); ``server`` arguments take ``"a"``, ``"b"`` or a guild id:

- server A, ``guild_id``, "Fake Art Club": ``"owner"`` (its owner, ``owner_id``),
  ``"alice"``, ``"bob"`` (plain members), ``"mod"`` (Moderator role with Manage Server,
  ``moderator_role_id``), ``"curator"`` (a role without permissions, ``curator_role_id``);
  channels ``"general"``, ``"art"`` (text) and ``"nsfw"`` (age-restricted); ``roles``.
- server B, ``other_guild_id``, "Other Server": ``"owner_b"`` (its owner,
  ``other_owner_id``; not in A), ``"mod_b"`` (Moderator role with Manage Server,
  ``other_moderator_role_id``), ``"carol"`` (only in B), and ``"alice"`` and ``"bob"``,
  members of both servers (same user ids; in B they hold no role); channels
  ``"general"`` and ``"art"`` (their own ids); ``other_roles`` (the bot's role there is
  ``other_bot_role_id``).

People and places: ``member(name, server=None)`` (None: A when ``name`` is a member
there, else B: ``member("carol")`` is B's, ``member("alice")`` A's,
``member("alice", server="b")`` alice's membership in B); ``channel(name, server=None)``
likewise (``channel("general", server="b")``). They return a ``FakeMember`` (``id``,
``guild_id``, ``roles``) / ``FakeChannel`` (``id``, ``guild_id``). ``members`` and
``channels`` are server A's (by name); ``members_in(server)``, ``channels_in(server)``,
``roles_in(server)`` any server's; ``server_of(guild_id)`` gives ``"a"``/``"b"``;
``permissions_of(member)`` is computed in the member's own server (its owner has every
permission; only that server's roles count). Both guilds come in READY (unavailable),
then one GUILD_CREATE each (A first); ``/guilds/{id}``, ``/guilds/{id}/members/{user}``
and the channel routes serve both.

Gateway: ``identify_count``, ``command_sync_count``, ``wait_identified(count, timeout)``,
``connected`` (every shard's session is live). ``FakeDiscord(shards=2)`` recommends two
shards in ``GET /gateway/bot``; server A is on shard 0 and server B on shard 1, and each
shard's connection gets its own server's READY, GUILD_CREATE and events only
(``shard_of(guild_id)``); an IDENTIFY with another shard count is a problem.
``FakeDiscord(shards=4).add_servers(998)`` (before the bot connects) adds servers
``"s1"``, ``"s2"``... (each with ``"owner"``, ``"mod"``, ``"member"``, the bot, channels
``"general"`` and ``"art"``), spread over the shards by Discord's rule; ``guild_ids``
lists every server, ``guild_payload(server)`` is its GUILD_CREATE data.

Commands: ``global_commands()``, ``guild_commands(guild_id=None)`` (a guild id or
``"a"``/``"b"``; None: A), ``command(name, guild=False, server=None)``: the synced trees
as the fake stored them (with ids). ``grant_command(name, server=None)`` lets every
member of that server (None: A) see a command whatever its
``default_member_permissions`` (until the bot syncs its global commands again).

Interactions (each returns an ``Interaction`` handle). The server is the member's
(``member.guild_id``): the payload's ``guild_id``, ``guild``, ``channel``, ``member``
(with its permissions there), ``app_permissions`` and ``authorizing_integration_owners``
are that server's.
- ``invoke("imagine", member, prompt="...", channel=None, guild=False)``: a slash command
  (type 2), validated against the synced tree: an unknown command or option, a missing
  required option, a wrong type, a value outside min/max/choices raise
  ``CommandUsageError``; so does a command hidden from the member by its
  ``default_member_permissions`` (checked with its permissions in its server).
  Subcommands are named with spaces: ``invoke("admin ban", mod, user=alice)``; user
  options take a ``FakeMember`` (resolved as that user's membership in the invoking
  server, or as a bare user when not a member there). ``guild=True`` uses the server's
  copy of a command (as ``DEV_GUILD_ID`` syncs it); a copy synced to A does not exist in
  B. ``channel`` is a name (in the member's server) or a ``FakeChannel``; default: the
  member's server's ``general``; a channel of another server raises
  ``CommandUsageError``.
- ``press(message, "U2", member)``: a button (type 3) on a stored message (a
  ``StoredMessage`` or an id), sent with the full current message object; a missing,
  disabled or invisible button, or a message in another server than the member's,
  raises ``CommandUsageError``.
- ``press_custom_id(custom_id, member, *, message=None, channel=None)``: a button
  interaction (type 3, component_type 2) with any ``custom_id`` (1..100 characters), as a
  forged or stale client could send: the message need not have that button. ``message``
  (a ``StoredMessage`` or id; default: the newest live bot message the member can see
  in ``channel``, default its server's ``general``) is sent as the interaction's
  ``message``; it must be in the member's server (else ``CommandUsageError``).
- Forms (``forms.py``): ``modal_of(handle)`` waits for the modal the bot answered with
  (type 9; checked as Discord does: custom id 1..100, title 1..45, 1..5 ``Label``
  components (type 18) or action rows of one text input, text inputs' lengths and
  prefilled values: else 400 / 50035); ``submit_modal(handle, {"prompt": "..."},
  member=None, custom_id=None)`` sends the submit (type 5) as a client does: each input
  keeps its prefilled value unless given, a required one left empty raises
  ``CommandUsageError``; a modal opened from a message component carries that message,
  and its submit may be answered with an update of it (types 6, 7), never with another
  modal. ``choose(message, ["1", "5"], member)`` picks options in the message's select
  (type 3, component_type 3, ``values``): options it does not offer or a count outside
  ``min_values``..``max_values`` raise ``CommandUsageError``. Selects the bot sends are
  checked too (1..25 options, unique values, sane value counts).

``Interaction`` handle: ``id``, ``token``, ``member``, ``guild_id``, ``channel_id``,
``ack`` (the accepted first callback: ``Callback(type, latency, ephemeral)`` or None),
``wait_ack(timeout)``, ``original()``, ``wait_original(predicate, timeout)``,
``followups()``, ``wait_followup(predicate, timeout)``, ``messages()`` (original and
followups, not deleted), ``wait_reply(predicate, timeout)`` (the first of those
matching). ``issued_tokens()``: every interaction token issued so far.

Deferrals (type 5), strictly as Discord documents them: the first followup after the
deferral takes the deferral's visibility whatever flags it asks for. It replaces the
"thinking…" message; when that was deleted in between, it is a new message, still with
the deferral's visibility (a public deferral never turns into an ephemeral answer).
Editing ``@original`` answers the deferral too. Later followups honour their own flags.

Messages (all reads are snapshots, ``StoredMessage``): ``message(id)``,
``messages(channel_id=None, visible_to=None, include_deleted=False)``,
``wait_for_message(predicate, timeout, channel_id=None)`` (edits count: the predicate is
checked on every change), ``attachment_bytes(attachment_or_id)``. No message is ever
forgotten: deleted ones (by the bot, ``@original`` included, or by ``delete_message``)
stay with ``deleted`` set. ``message_mark()`` (how many messages were ever created) and
``public_messages_since(mark, channel_id=None)``: every non-ephemeral message created
after the mark, deleted and "thinking…" ones included (to prove that a refusal posted
nothing in public).
``StoredMessage`` has ``id``, ``channel_id``, ``guild_id``, ``content``, ``components``,
``rows`` (button labels per row), ``button(label)``, ``attachments``
(``StoredAttachment`` with ``data`` bytes, ``filename``, ``content_type``, ``width``,
``height``), ``image(i)`` (a PIL image), ``flags``, ``ephemeral``, ``loading``,
``visible_to``, ``interaction_id``, ``kind`` (``original``, ``followup`` or ``channel``),
``edits`` (every change, timed), ``deleted``.

Bookkeeping: ``calls`` (every request), ``cdn_requests`` (every request to the CDN, by
path: the bot's downloads), ``rejected``, ``unexpected``, ``dropped`` (the
client went away mid-request), ``problems()``, ``mark()`` / ``problems(since=mark)``,
``allow_rejections(*codes)``, ``clear_allowed_rejections()``, ``pending_acks()``,
``wait_quiet()``.

Faults: ``fail_next("PATCH", r"/messages/@original$", status=500, times=1)`` answers the
next matching calls with an error instead (``injected`` lists them);
``hold_next("PATCH", r"/messages/@original$", times=n)`` holds them until the test calls
``open()`` on the ``Hold`` it returns (``wait_reached()``: one is held);
``clear_faults()``; ``expire(handle)`` makes an interaction's token invalid as if 15
minutes had passed; ``delete_message(m)`` deletes a message as a moderator would
(MESSAGE_DELETE carries the message's own guild).

Rate limits (``ratelimits.py``), Discord's by default: per-route buckets (method, path
template and top-level resource) announced in ``X-RateLimit-*`` headers, 429 with
``retry_after`` over a bucket, the global 50 requests a second (interaction routes
exempt; ``"global": true``), 5 edits per 5 s per channel through
``PATCH /channels/{id}/messages/{id}``. ``FakeDiscord(rate_limits=RateLimits(...))`` or
``with fake.use_rate_limits(RateLimits(...)):`` (fresh buckets); ``rate_limited`` lists
every 429 (``RateLimitHit``), ``longest_429_streak`` the most one request got in a row;
more than ``loop_after`` in a row is a problem (a client that does not wait).

Every ``wait_*`` fails at once, naming it, when the fake records a new problem while it
waits (a rejected edit does not leave a test waiting for its full timeout).

Layout
------
``FakeDiscord`` (``server.py``) is assembled from mixins, one concern each, on a common
base ``_State`` (``state.py``) that declares every attribute they share:

- ``constants.py``: limits, message flags, permission bits, option types;
- ``model.py``: errors, ids, ``FakeRole``/``FakeMember``/``FakeChannel``, ``StoredMessage``,
  ``StoredAttachment``, ``Edit``, ``Callback``, ``Call``, ``Rejection``, internal records;
- ``validation.py``: Discord's checks on message bodies, components and command trees;
- ``world.py``: the two servers (built once), the lookups, the REST routes that read them;
- ``gateway.py``: the websocket (IDENTIFY, READY, GUILD_CREATE, dispatching events);
- ``rest.py``: REST dispatch (auth, faults, rejections, unknown routes), body reading;
- ``ratelimits.py``: Discord's rate limits (buckets, the global limit, 429s);
- ``messages.py``: message storage and JSON, the message reads, channel message routes;
- ``responses.py``: the interaction callback and webhook routes (followups, ``@original``);
- ``interactions.py``: sending interactions, ``press``/``press_custom_id``, ``Interaction``;
- ``commands.py``: the synced command trees (REST and reads) and ``invoke``;
- ``server.py``: ``FakeDiscord`` itself (start/stop, the route table), bookkeeping, faults.
"""

from .constants import (
    ACK_DEADLINE_S,
    ADD_REACTIONS,
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    API_PREFIX,
    ATTACH_FILES,
    ATTACHMENT,
    BAN_MEMBERS,
    BOOLEAN,
    CHANGE_NICKNAME,
    CHANNEL,
    CONNECT,
    CREATE_INSTANT_INVITE,
    DEFAULT_ATTACHMENT_LIMIT,
    DISCORD_EPOCH_MS,
    EMBED_LINKS,
    EPHEMERAL,
    EVERYONE_PERMISSIONS,
    INTEGER,
    IS_COMPONENTS_V2,
    KICK_MEMBERS,
    LOADING,
    MANAGE_CHANNELS,
    MANAGE_GUILD,
    MANAGE_MESSAGES,
    MAX_ATTACHMENTS,
    MAX_CONTENT,
    MAX_CUSTOM_ID,
    MAX_LABEL,
    MAX_ROW_ITEMS,
    MAX_ROWS,
    MAX_STRING_OPTION,
    MENTIONABLE,
    NUMBER,
    OPTION_TYPE_NAMES,
    READ_MESSAGE_HISTORY,
    ROLE,
    SEND_MESSAGES,
    SEND_MESSAGES_IN_THREADS,
    SPEAK,
    STRING,
    SUB_COMMAND,
    SUB_COMMAND_GROUP,
    SUPPRESS_EMBEDS,
    SUPPRESS_NOTIFICATIONS,
    TOKEN_LIFETIME_S,
    USE_APPLICATION_COMMANDS,
    USE_EXTERNAL_EMOJIS,
    USER,
    VIEW_CHANNEL,
)
from .interactions import Interaction
from .model import (
    Call,
    Callback,
    CommandUsageError,
    DiscordError,
    Edit,
    FakeChannel,
    FakeMember,
    FakeRole,
    Hold,
    Rejection,
    Snowflakes,
    StoredAttachment,
    StoredMessage,
)
from .ratelimits import Limit, RateLimitHit, RateLimits
from .server import FakeDiscord

__all__ = [
    "ACK_DEADLINE_S",
    "ADD_REACTIONS",
    "ADMINISTRATOR",
    "ALL_PERMISSIONS",
    "API_PREFIX",
    "ATTACHMENT",
    "ATTACH_FILES",
    "BAN_MEMBERS",
    "BOOLEAN",
    "CHANGE_NICKNAME",
    "CHANNEL",
    "CONNECT",
    "CREATE_INSTANT_INVITE",
    "DEFAULT_ATTACHMENT_LIMIT",
    "DISCORD_EPOCH_MS",
    "EMBED_LINKS",
    "EPHEMERAL",
    "EVERYONE_PERMISSIONS",
    "INTEGER",
    "IS_COMPONENTS_V2",
    "KICK_MEMBERS",
    "LOADING",
    "MANAGE_CHANNELS",
    "MANAGE_GUILD",
    "MANAGE_MESSAGES",
    "MAX_ATTACHMENTS",
    "MAX_CONTENT",
    "MAX_CUSTOM_ID",
    "MAX_LABEL",
    "MAX_ROWS",
    "MAX_ROW_ITEMS",
    "MAX_STRING_OPTION",
    "MENTIONABLE",
    "NUMBER",
    "OPTION_TYPE_NAMES",
    "READ_MESSAGE_HISTORY",
    "ROLE",
    "SEND_MESSAGES",
    "SEND_MESSAGES_IN_THREADS",
    "SPEAK",
    "STRING",
    "SUB_COMMAND",
    "SUB_COMMAND_GROUP",
    "SUPPRESS_EMBEDS",
    "SUPPRESS_NOTIFICATIONS",
    "TOKEN_LIFETIME_S",
    "USER",
    "USE_APPLICATION_COMMANDS",
    "USE_EXTERNAL_EMOJIS",
    "VIEW_CHANNEL",
    "Call",
    "Callback",
    "CommandUsageError",
    "DiscordError",
    "Edit",
    "FakeChannel",
    "FakeDiscord",
    "FakeMember",
    "FakeRole",
    "Hold",
    "Interaction",
    "Limit",
    "RateLimitHit",
    "RateLimits",
    "Rejection",
    "Snowflakes",
    "StoredAttachment",
    "StoredMessage",
]
