// The part of dns-packet 5.x the resolver uses (the package ships no types).
declare module 'dns-packet' {
  export interface Question {
    type: string;
    name: string;
    class?: string;
  }
  export interface Answer {
    type: string;
    name: string;
    ttl?: number;
    class?: string;
    data?: unknown;
    flush?: boolean;
  }
  export interface Packet {
    type?: 'query' | 'response';
    id?: number;
    flags?: number;
    rcode?: string;
    flag_rd?: boolean;
    questions?: Question[];
    answers?: Answer[];
    authorities?: Answer[];
    additionals?: Answer[];
  }
  export function encode(packet: Packet, buf?: Buffer, offset?: number): Buffer;
  export function decode(buf: Buffer, offset?: number): Packet;
  export function streamEncode(packet: Packet): Buffer;
  export function streamDecode(buf: Buffer): Packet;
  export const RECURSION_DESIRED: number;
  export const RECURSION_AVAILABLE: number;
  export const AUTHORITATIVE_ANSWER: number;
}
