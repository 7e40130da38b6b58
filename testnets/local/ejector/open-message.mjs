// Opens an encrypted exit message as Lido's validator-ejector does
// (lidofinance/validator-ejector v1.7.0: services/crypto/dto.ts checks the
// container's shape, pbkdf2 only; services/crypto/service.ts decrypts with
// @chainsafe/bls-keystore 3.1.0 and parses the JSON), and prints the
// message.   node open-message.mjs FILE PASSWORD_FILE
import { readFile } from 'fs/promises'
import { decrypt } from '@chainsafe/bls-keystore'

const [file, passwordFile] = process.argv.slice(2)
const input = JSON.parse((await readFile(file)).toString())
// The ejector reads MESSAGES_PASSWORD_FILE as it is.
const password = (await readFile(passwordFile)).toString()
const c = input.crypto
const need = (ok, what) => { if (!ok) throw new Error(`${file}: ${what}`) }
need(typeof input.version === 'number' && typeof input.uuid === 'string', 'version and uuid')
need(typeof input.path === 'string' && typeof input.pubkey === 'string', 'path and pubkey')
need(c.kdf.function === 'pbkdf2' && c.kdf.params.prf === 'hmac-sha256' && c.kdf.message === '', 'kdf pbkdf2/hmac-sha256')
need(typeof c.kdf.params.dklen === 'number' && typeof c.kdf.params.c === 'number' && typeof c.kdf.params.salt === 'string', 'kdf params')
need(c.checksum.function === 'sha256' && typeof c.checksum.message === 'string', 'checksum sha256')
need(c.cipher.function === 'aes-128-ctr' && typeof c.cipher.params.iv === 'string', 'cipher aes-128-ctr')
const content = await decrypt(input, password)
const json = JSON.parse(new TextDecoder().decode(content))
process.stdout.write(JSON.stringify(json))
