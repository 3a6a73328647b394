/**
 * A trie over the literal leading segments of each rule's topic globs. Looking a topic up walks
 * its segments once and collects only the rules that could match it, so evaluation cost follows
 * the number of plausible rules, not the size of the policy.
 */

interface Node {
  children: Map<string, Node>
  rules: number[]
}

function newNode (): Node {
  return { children: new Map(), rules: [] }
}

export class TopicIndex {
  private readonly root: Node = newNode()

  /** Files rule `ruleIndex` under a glob's literal prefix (an empty prefix: every topic). */
  add (literalPrefix: readonly string[], ruleIndex: number): void {
    let node = this.root
    for (const segment of literalPrefix) {
      let next = node.children.get(segment)
      if (next === undefined) {
        next = newNode()
        node.children.set(segment, next)
      }
      node = next
    }
    if (node.rules[node.rules.length - 1] !== ruleIndex) node.rules.push(ruleIndex)
  }

  /** Rule indexes that may match `topic`, ascending (file order), without duplicates. */
  candidates (topic: string): number[] {
    const found: number[] = [...this.root.rules]
    let node: Node | undefined = this.root
    for (const segment of topic.split('.')) {
      node = node.children.get(segment)
      if (node === undefined) break
      for (const r of node.rules) found.push(r)
    }
    found.sort((a, b) => a - b)
    let w = 0
    for (let i = 0; i < found.length; i++) {
      if (i === 0 || found[i] !== found[i - 1]) found[w++] = found[i]
    }
    found.length = w
    return found
  }
}
