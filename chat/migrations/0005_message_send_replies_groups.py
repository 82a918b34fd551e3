"""`chat_message_send` gains replies and group blocks (DESIGN 6.5, 6.6).

What 0002's function did, plus: an optional `reply_to` per item (a message of the same
conversation, else status `bad_reply`); in a group, members with a block either way with the
sender get no `message.new` of it (a 1:1 across a block is still refused); sending accepts a
message request (the sender's participant row turns `accepted`); a retry's row also carries
the original's `reply_to`, `edited_at` and `deleted`. Still one statement per batch of sends.
"""

from importlib import import_module

from django.db import migrations

# The function this one replaces, for reversing.
OLD_CREATE = import_module("chat.migrations.0002_message_send_function").CREATE

CREATE = r"""
CREATE OR REPLACE FUNCTION chat_message_send(
    p_senders bigint[], p_conversations bigint[], p_bodies text[], p_client_ids text[], p_reply_tos bigint[],
    p_now timestamptz
) RETURNS TABLE (
    r_index int, r_status text, r_id bigint, r_body text, r_created_at timestamptz,
    r_recipients bigint[], r_seqs bigint[], r_reply_to bigint, r_edited_at timestamptz, r_deleted boolean
) LANGUAGE plpgsql AS $$
DECLARE
    v_direct text;
    v_members bigint[];
    v_id bigint;
    v_old record;
    v_recipients bigint[];
    v_seqs bigint[];
    i int;
BEGIN
    -- Every lock the batch needs, in the one order: conversations, then event counters.
    PERFORM 1 FROM chat_conversation c WHERE c.id = ANY (p_conversations) ORDER BY c.id FOR UPDATE;
    INSERT INTO realtime_eventsequence (user_id, last_id)
    SELECT DISTINCT p.user_id, 0 FROM chat_participant p
     WHERE p.conversation_id = ANY (p_conversations)
       AND NOT EXISTS (SELECT 1 FROM realtime_eventsequence s WHERE s.user_id = p.user_id)
    ON CONFLICT (user_id) DO NOTHING;
    PERFORM 1 FROM realtime_eventsequence s
     WHERE s.user_id IN (SELECT p.user_id FROM chat_participant p WHERE p.conversation_id = ANY (p_conversations))
     ORDER BY s.user_id FOR UPDATE;

    FOR i IN 1 .. coalesce(array_length(p_senders, 1), 0) LOOP
        BEGIN
            r_index := i; r_id := NULL; r_body := NULL; r_created_at := NULL; r_recipients := NULL; r_seqs := NULL;
            r_reply_to := NULL; r_edited_at := NULL; r_deleted := NULL;
            SELECT c.direct_key INTO v_direct FROM chat_conversation c
             WHERE c.id = p_conversations[i]
               AND EXISTS (SELECT 1 FROM chat_participant p WHERE p.conversation_id = c.id AND p.user_id = p_senders[i]);
            IF NOT FOUND THEN
                r_status := 'not_found';
                RETURN NEXT;
                CONTINUE;
            END IF;

            SELECT m.id, m.conversation_id, m.body, m.created_at, m.reply_to_id, m.edited_at, m.deleted INTO v_old
              FROM chat_message m WHERE m.sender_id = p_senders[i] AND m.client_id = p_client_ids[i];
            IF FOUND THEN
                r_status := CASE WHEN v_old.conversation_id <> p_conversations[i] THEN 'conflict' ELSE 'existing' END;
                IF r_status = 'existing' THEN
                    r_id := v_old.id; r_body := v_old.body; r_created_at := v_old.created_at;
                    r_reply_to := v_old.reply_to_id; r_edited_at := v_old.edited_at; r_deleted := v_old.deleted;
                END IF;
                RETURN NEXT;
                CONTINUE;
            END IF;

            SELECT array_agg(p.user_id ORDER BY p.user_id) INTO v_members
              FROM chat_participant p WHERE p.conversation_id = p_conversations[i];
            IF v_direct IS NOT NULL AND EXISTS (
                SELECT 1 FROM accounts_block b
                 WHERE (b.blocker_id = p_senders[i] AND b.blocked_id = ANY (v_members))
                    OR (b.blocked_id = p_senders[i] AND b.blocker_id = ANY (v_members))
            ) THEN
                r_status := 'blocked';
                RETURN NEXT;
                CONTINUE;
            END IF;
            IF p_reply_tos[i] IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM chat_message m WHERE m.id = p_reply_tos[i] AND m.conversation_id = p_conversations[i]
            ) THEN
                r_status := 'bad_reply';
                RETURN NEXT;
                CONTINUE;
            END IF;
            -- In a group, a block between the sender and a member stops delivery between them.
            IF v_direct IS NULL THEN
                SELECT array_agg(u ORDER BY u) INTO v_members FROM unnest(v_members) AS u
                 WHERE NOT EXISTS (
                    SELECT 1 FROM accounts_block b
                     WHERE (b.blocker_id = p_senders[i] AND b.blocked_id = u)
                        OR (b.blocked_id = p_senders[i] AND b.blocker_id = u)
                 );
            END IF;

            INSERT INTO chat_message (conversation_id, sender_id, body, client_id, created_at, reply_to_id)
            VALUES (p_conversations[i], p_senders[i], p_bodies[i], p_client_ids[i], p_now, p_reply_tos[i])
            RETURNING id INTO v_id;

            UPDATE chat_conversation SET last_message_id = v_id, last_activity_at = p_now WHERE id = p_conversations[i];
            -- Replying accepts a message request.
            UPDATE chat_participant SET last_read_message_id = greatest(last_read_message_id, v_id), accepted = true
             WHERE conversation_id = p_conversations[i] AND user_id = p_senders[i];

            WITH bumped AS (
                UPDATE realtime_eventsequence s SET last_id = s.last_id + 1
                 WHERE s.user_id = ANY (v_members)
             RETURNING s.user_id, s.last_id
            ), logged AS (
                INSERT INTO realtime_event (user_id, seq, kind, ref, payload, created_at)
                SELECT b.user_id, b.last_id, 'message.new', v_id, NULL, p_now FROM bumped b
                RETURNING realtime_event.user_id, realtime_event.seq
            )
            SELECT array_agg(l.user_id ORDER BY l.user_id), array_agg(l.seq ORDER BY l.user_id)
              INTO v_recipients, v_seqs FROM logged l;

            r_status := 'created'; r_id := v_id; r_body := p_bodies[i]; r_created_at := p_now;
            r_recipients := v_recipients; r_seqs := v_seqs; r_reply_to := p_reply_tos[i]; r_deleted := false;
            RETURN NEXT;
        EXCEPTION
            WHEN unique_violation THEN
                -- A concurrent send with this client_id committed first: answer as a retry.
                SELECT m.id, m.conversation_id, m.body, m.created_at, m.reply_to_id, m.edited_at, m.deleted INTO v_old
                  FROM chat_message m WHERE m.sender_id = p_senders[i] AND m.client_id = p_client_ids[i];
                r_index := i; r_recipients := NULL; r_seqs := NULL;
                IF FOUND AND v_old.conversation_id = p_conversations[i] THEN
                    r_status := 'existing'; r_id := v_old.id; r_body := v_old.body; r_created_at := v_old.created_at;
                    r_reply_to := v_old.reply_to_id; r_edited_at := v_old.edited_at; r_deleted := v_old.deleted;
                ELSE
                    r_status := 'conflict'; r_id := NULL; r_body := NULL; r_created_at := NULL;
                END IF;
                RETURN NEXT;
            WHEN OTHERS THEN
                RAISE WARNING 'chat_message_send: item % failed: %', i, SQLERRM;
                r_index := i; r_status := 'error'; r_id := NULL; r_body := NULL; r_created_at := NULL;
                r_recipients := NULL; r_seqs := NULL; r_reply_to := NULL; r_edited_at := NULL; r_deleted := NULL;
                RETURN NEXT;
        END;
    END LOOP;
END
$$;
"""

DROP_OLD = "DROP FUNCTION IF EXISTS chat_message_send(bigint[], bigint[], text[], text[], timestamptz);"
DROP = "DROP FUNCTION IF EXISTS chat_message_send(bigint[], bigint[], text[], text[], bigint[], timestamptz);"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_OLD)
        schema_editor.execute(CREATE, params=None)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)
        schema_editor.execute(OLD_CREATE, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0004_dm_features"),
        ("accounts", "0001_initial"),
        ("realtime", "0002_event_ref_plain_payload"),
    ]

    operations = [migrations.RunPython(create, drop)]
