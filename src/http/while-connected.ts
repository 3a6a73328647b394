/** For long polls: a signal that aborts when the caller goes away before its answer is sent. */
import type { FastifyReply } from 'fastify'

/**
 * A signal that aborts if the caller goes away before the answer is sent, or when `closing`
 * aborts (the instance begins to close), and the function that stops watching.
 */
export function whileConnected (reply: FastifyReply, closing?: AbortSignal): { signal: AbortSignal, done: () => void } {
  const controller = new AbortController()
  const onClose = (): void => { if (!reply.raw.writableEnded) controller.abort() }
  const onClosing = (): void => { controller.abort() }
  reply.raw.once('close', onClose)
  closing?.addEventListener('abort', onClosing, { once: true })
  if (closing?.aborted === true) controller.abort()
  return {
    signal: controller.signal,
    done: () => {
      reply.raw.off('close', onClose)
      closing?.removeEventListener('abort', onClosing)
    }
  }
}
