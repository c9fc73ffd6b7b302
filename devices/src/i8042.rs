//! The i8042 keyboard controller at ports 0x60 (data) and 0x64
//! (status/command), with a PS/2 keyboard and mouse behind it that answer
//! commands but never type or move. The model is QEMU's (`hw/input/pckbd.c`
//! and `hw/input/ps2.c`), so a guest's probe sees what it sees under QEMU
//! q35: Linux's i8042 driver passes its self-test, finds the AUX port
//! through loopback, and atkbd and psmouse identify an "AT Translated Set 2
//! keyboard" and an "ImExPS/2 Generic Explorer Mouse". References below are
//! to the IBM PC/AT Technical Reference (8042 commands) and the IBM PS/2
//! Hardware Interface Technical Reference (keyboard and mouse commands).
//!
//! Reset: controller command 0xFE (pulse output port bit 0 low), any pulse
//! command 0xF0..=0xFF with bit 0 clear, or an output-port write with bit 0
//! clear requests a platform reset through [`PowerControl`] — Linux's
//! `reboot=kbd` path.
//!
//! The output buffer holds one byte. Replies come from three queues
//! (controller, keyboard, mouse; each bounded at 16 bytes as in QEMU, so a
//! guest cannot grow them) and move into the buffer when it is empty and
//! the port is not disabled. IRQ1 follows a full buffer from the keyboard
//! with CTR.KBD_INT; IRQ12 one from the mouse with CTR.AUX_INT (levels,
//! [`IrqLine`]). The state at power-on is the one SeaBIOS leaves for the
//! kernel: self-test passed (status SYS set), CTR = 0x61 (translation,
//! keyboard interrupt, mouse disabled).

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::irq::IrqLine;
use crate::power::{PowerControl, PowerEvent};

/// The data port.
pub const I8042_DATA_PORT: u16 = 0x60;
/// The status (read) and command (write) port.
pub const I8042_COMMAND_PORT: u16 = 0x64;

/// Status register bits.
pub mod status {
    /// Output buffer full.
    pub const OBF: u8 = 0x01;
    /// Input buffer full (never: input is taken at once).
    pub const IBF: u8 = 0x02;
    /// System flag: self-test passed.
    pub const SYS: u8 = 0x04;
    /// The last write was to the command port.
    pub const CMD: u8 = 0x08;
    /// Keyboard not inhibited.
    pub const UNLOCKED: u8 = 0x10;
    /// The output buffer holds mouse data.
    pub const AUX_OBF: u8 = 0x20;
}

/// Controller command byte (CTR) bits.
pub mod ctr {
    pub const KBD_INT: u8 = 0x01;
    pub const AUX_INT: u8 = 0x02;
    pub const SYS: u8 = 0x04;
    pub const KBD_DISABLE: u8 = 0x10;
    pub const AUX_DISABLE: u8 = 0x20;
    /// Translate keyboard scan codes to set 1.
    pub const XLATE: u8 = 0x40;
}

/// Output port bits.
pub mod outport {
    /// System reset, active low.
    pub const RESET: u8 = 0x01;
    pub const A20: u8 = 0x02;
    pub const KBD_OBF: u8 = 0x10;
    pub const AUX_OBF: u8 = 0x20;
}

/// Device acknowledge, self-test passed, resend.
const ACK: u8 = 0xFA;
const SELF_TEST_OK: u8 = 0xAA;
const RESEND: u8 = 0xFE;
/// Bytes each queue holds (QEMU's PS2_QUEUE_SIZE).
const QUEUE_DEPTH: usize = 16;

/// Who put the byte in the output buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Keyboard,
    Mouse,
}

/// A bounded reply queue.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Queue(VecDeque<(u8, Source)>);

impl Queue {
    fn push(&mut self, byte: u8, source: Source) {
        if self.0.len() < QUEUE_DEPTH {
            self.0.push_back((byte, source));
        }
    }

    fn pop(&mut self) -> Option<(u8, Source)> {
        self.0.pop_front()
    }
}

/// The keyboard's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyboardState {
    pub queue: Queue,
    /// A command waiting for its parameter byte.
    pub pending_command: Option<u8>,
    pub scan_enabled: bool,
    pub scancode_set: u8,
    pub leds: u8,
}

impl Default for KeyboardState {
    fn default() -> KeyboardState {
        KeyboardState {
            queue: Queue::default(),
            pending_command: None,
            scan_enabled: true,
            scancode_set: 2,
            leds: 0,
        }
    }
}

/// The mouse's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MouseState {
    pub queue: Queue,
    pub pending_command: Option<u8>,
    /// Status byte: bit 6 remote mode, bit 5 enabled, bit 4 scaling 2:1.
    pub status: u8,
    pub resolution: u8,
    pub sample_rate: u8,
    /// 0 standard, 3 IntelliMouse, 4 IntelliMouse Explorer.
    pub device_id: u8,
    /// Progress through the 200-100-80 / 200-200-80 sample-rate knocks.
    pub detect: u8,
    pub wrap: bool,
}

impl Default for MouseState {
    fn default() -> MouseState {
        MouseState {
            queue: Queue::default(),
            pending_command: None,
            status: 0,
            resolution: 2,
            sample_rate: 100,
            device_id: 0,
            detect: 0,
            wrap: false,
        }
    }
}

/// The controller's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct I8042State {
    pub status: u8,
    /// The controller command byte.
    pub ctr: u8,
    pub outport: u8,
    /// The output buffer.
    pub output: Option<(u8, Source)>,
    /// The last byte read from the data port (read again when empty).
    pub last: u8,
    /// A controller command waiting for its data byte.
    pub pending_command: Option<u8>,
    /// Controller replies.
    pub replies: Queue,
    pub keyboard: KeyboardState,
    pub mouse: MouseState,
}

impl Default for I8042State {
    fn default() -> I8042State {
        I8042State {
            status: status::SYS | status::CMD | status::UNLOCKED,
            ctr: ctr::KBD_INT | ctr::AUX_DISABLE | ctr::XLATE,
            outport: outport::RESET | outport::A20 | 0xCC,
            output: None,
            last: 0,
            pending_command: None,
            replies: Queue::default(),
            keyboard: KeyboardState::default(),
            mouse: MouseState::default(),
        }
    }
}

/// The controller with its two devices.
pub struct I8042 {
    s: I8042State,
    levels: [bool; 2],
    irq_kbd: Box<dyn IrqLine>,
    irq_mouse: Box<dyn IrqLine>,
    power: PowerControl,
}

impl std::fmt::Debug for I8042 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("I8042").field("state", &self.s).finish()
    }
}

impl I8042 {
    /// A controller as the BIOS leaves it, interrupting on `irq_kbd` (IRQ1)
    /// and `irq_mouse` (IRQ12), requesting resets through `power`.
    pub fn new(
        irq_kbd: Box<dyn IrqLine>,
        irq_mouse: Box<dyn IrqLine>,
        power: PowerControl,
    ) -> I8042 {
        I8042::from_state(I8042State::default(), irq_kbd, irq_mouse, power)
    }

    /// A controller in `state`.
    pub fn from_state(
        state: I8042State,
        irq_kbd: Box<dyn IrqLine>,
        irq_mouse: Box<dyn IrqLine>,
        power: PowerControl,
    ) -> I8042 {
        let mut c = I8042 {
            s: state,
            levels: [false; 2],
            irq_kbd,
            irq_mouse,
            power,
        };
        c.update();
        c
    }

    /// The registers and queues.
    pub fn state(&self) -> &I8042State {
        &self.s
    }

    /// Reads port `offset` (0: data at 0x60, 4: status at 0x64).
    pub fn read(&mut self, offset: u8) -> u8 {
        match offset {
            0 => {
                if let Some((byte, _)) = self.s.output.take() {
                    self.s.last = byte;
                    // Reading the output buffer deasserts IRQ1/IRQ12; the
                    // next queued byte raises it again, so each byte of a
                    // multi-byte reply is a fresh edge for the
                    // edge-triggered ISA line (QEMU's ps2_read_data does the
                    // same).
                    self.lower_irqs();
                }
                self.update();
                self.s.last
            }
            4 => self.s.status,
            _ => 0xFF,
        }
    }

    /// Writes port `offset` (0: data, 4: command).
    pub fn write(&mut self, offset: u8, value: u8) {
        match offset {
            0 => {
                self.s.status &= !status::CMD;
                self.write_data(value);
            }
            4 => {
                self.s.status |= status::CMD;
                self.write_command(value);
            }
            _ => return,
        }
        self.update();
    }

    fn reply(&mut self, byte: u8, source: Source) {
        self.s.replies.push(byte, source);
    }

    fn reset(&mut self) {
        self.power.request(PowerEvent::Reset);
    }

    fn write_command(&mut self, cmd: u8) {
        // Pulse commands: bits 3:0 clear name output port bits to pulse;
        // only bit 0 (reset) does anything.
        let cmd = if cmd & 0xF0 == 0xF0 {
            if cmd & 1 == 0 {
                0xFE
            } else {
                0xFF
            }
        } else {
            cmd
        };
        match cmd {
            // Read CTR (and, as QEMU, the rest of the 0x20..=0x3F RAM
            // reads only CTR).
            0x20 => self.reply(self.s.ctr, Source::Keyboard),
            0x60 | 0xD1 | 0xD2 | 0xD3 | 0xD4 => self.s.pending_command = Some(cmd),
            0xA7 => self.s.ctr |= ctr::AUX_DISABLE,
            0xA8 => self.s.ctr &= !ctr::AUX_DISABLE,
            // Test AUX port, test keyboard port: no error.
            0xA9 | 0xAB => self.reply(0x00, Source::Keyboard),
            0xAA => {
                self.s.status |= status::SYS;
                self.reply(0x55, Source::Keyboard);
            }
            0xAD => self.s.ctr |= ctr::KBD_DISABLE,
            0xAE => self.s.ctr &= !ctr::KBD_DISABLE,
            // Read input port: keyboard not inhibited.
            0xC0 => self.reply(0x80, Source::Keyboard),
            0xD0 => self.reply(self.s.outport, Source::Keyboard),
            0xDD => self.s.outport &= !outport::A20,
            0xDF => self.s.outport |= outport::A20,
            0xFE => self.reset(),
            0xFF => {}
            _ => {
                tracing::debug!(target: "i8042", cmd = format_args!("{cmd:#04x}"), "unsupported controller command");
            }
        }
    }

    fn write_data(&mut self, value: u8) {
        match self.s.pending_command.take() {
            None => {
                // Sending to the keyboard re-enables its port.
                self.s.ctr &= !ctr::KBD_DISABLE;
                self.keyboard_command(value);
            }
            Some(0x60) => self.s.ctr = value,
            Some(0xD1) => {
                self.s.outport = value;
                if value & outport::RESET == 0 {
                    self.reset();
                }
            }
            Some(0xD2) => self.reply(value, Source::Keyboard),
            Some(0xD3) => self.reply(value, Source::Mouse),
            Some(_) => {
                self.s.ctr &= !ctr::AUX_DISABLE;
                self.mouse_command(value);
            }
        }
    }

    /// A byte sent to the keyboard (PS/2 keyboard commands).
    fn keyboard_command(&mut self, value: u8) {
        let xlate = self.s.ctr & ctr::XLATE != 0;
        let k = &mut self.s.keyboard;
        let q = |k: &mut KeyboardState, bytes: &[u8]| {
            for &b in bytes {
                k.queue.push(b, Source::Keyboard);
            }
        };
        match k.pending_command.take() {
            Some(0xF0) => match value {
                // Get current set; QEMU reports the translated id.
                0 => {
                    let set = k.scancode_set;
                    let id = if xlate {
                        [0, 0x43, 0x41, 0x3F][usize::from(set & 3)]
                    } else {
                        set
                    };
                    q(k, &[ACK, id]);
                }
                1..=3 => {
                    k.scancode_set = value;
                    q(k, &[ACK]);
                }
                _ => q(k, &[RESEND]),
            },
            Some(0xED) => {
                k.leds = value;
                q(k, &[ACK]);
            }
            Some(_) => q(k, &[ACK]),
            None => match value {
                0x00 => q(k, &[ACK]),
                0x05 => q(k, &[RESEND]),
                // Get ID: an MF2 keyboard.
                0xF2 => q(k, &[ACK, 0xAB, if xlate { 0x41 } else { 0x83 }]),
                0xEE => q(k, &[0xEE]),
                0xF4 => {
                    k.scan_enabled = true;
                    q(k, &[ACK]);
                }
                0xF0 | 0xED | 0xF3 | 0xFC => {
                    k.pending_command = Some(value);
                    q(k, &[ACK]);
                }
                0xF5 | 0xF6 => {
                    *k = KeyboardState {
                        scan_enabled: value == 0xF6,
                        ..KeyboardState::default()
                    };
                    q(k, &[ACK]);
                }
                0xFF => {
                    *k = KeyboardState::default();
                    q(k, &[ACK, SELF_TEST_OK]);
                }
                0xFA => q(k, &[ACK]),
                _ => q(k, &[RESEND]),
            },
        }
    }

    /// A byte sent to the mouse (PS/2 mouse commands).
    fn mouse_command(&mut self, value: u8) {
        let m = &mut self.s.mouse;
        let q = |m: &mut MouseState, bytes: &[u8]| {
            for &b in bytes {
                m.queue.push(b, Source::Mouse);
            }
        };
        if let Some(cmd) = m.pending_command.take() {
            if cmd == 0xF3 {
                m.sample_rate = value;
                // The IntelliMouse knocks: 200, 100, 80 gives id 3; 200,
                // 200, 80 gives id 4.
                m.detect = match (m.detect, value) {
                    (_, 200) if m.detect == 0 => 1,
                    (1, 100) => 2,
                    (1, 200) => 3,
                    (2, 80) => {
                        m.device_id = 3;
                        0
                    }
                    (3, 80) => {
                        m.device_id = 4;
                        0
                    }
                    _ => 0,
                };
            } else {
                m.resolution = value;
            }
            q(m, &[ACK]);
            return;
        }
        if m.wrap {
            match value {
                0xEC => {
                    m.wrap = false;
                    q(m, &[ACK]);
                    return;
                }
                0xFF => {}
                _ => {
                    q(m, &[value]);
                    return;
                }
            }
        }
        match value {
            0xE6 => {
                m.status &= !0x10;
                q(m, &[ACK]);
            }
            0xE7 => {
                m.status |= 0x10;
                q(m, &[ACK]);
            }
            0xEA => {
                m.status &= !0x40;
                q(m, &[ACK]);
            }
            0xEE => {
                m.wrap = true;
                q(m, &[ACK]);
            }
            0xF0 => {
                m.status |= 0x40;
                q(m, &[ACK]);
            }
            0xF2 => {
                let id = m.device_id;
                q(m, &[ACK, id]);
            }
            0xE8 | 0xF3 => {
                m.pending_command = Some(value);
                q(m, &[ACK]);
            }
            0xE9 => {
                let (s, r, rate) = (m.status, m.resolution, m.sample_rate);
                q(m, &[ACK, s, r, rate]);
            }
            // Read data: no movement, no buttons.
            0xEB => q(m, &[ACK, 0x08, 0, 0]),
            0xF4 => {
                m.status |= 0x20;
                q(m, &[ACK]);
            }
            0xF5 => {
                m.status &= !0x20;
                q(m, &[ACK]);
            }
            0xF6 => {
                m.status = 0;
                m.resolution = 2;
                m.sample_rate = 100;
                q(m, &[ACK]);
            }
            0xFF => {
                *m = MouseState::default();
                q(m, &[ACK, SELF_TEST_OK, 0x00]);
            }
            // QEMU answers nothing to other bytes.
            _ => {}
        }
    }

    /// Refills the output buffer and drives the status bits and IRQs.
    fn lower_irqs(&mut self) {
        if std::mem::take(&mut self.levels[0]) {
            self.irq_kbd.set_level(false);
        }
        if std::mem::take(&mut self.levels[1]) {
            self.irq_mouse.set_level(false);
        }
    }

    fn update(&mut self) {
        if self.s.output.is_none() {
            self.s.output = self
                .s
                .replies
                .pop()
                .or_else(|| {
                    if self.s.ctr & ctr::KBD_DISABLE == 0 {
                        self.s.keyboard.queue.pop()
                    } else {
                        None
                    }
                })
                .or_else(|| {
                    if self.s.ctr & ctr::AUX_DISABLE == 0 {
                        self.s.mouse.queue.pop()
                    } else {
                        None
                    }
                });
        }
        self.s.status &= !(status::OBF | status::AUX_OBF);
        self.s.outport &= !(outport::KBD_OBF | outport::AUX_OBF);
        let (mut kbd, mut mouse) = (false, false);
        match self.s.output {
            Some((_, Source::Keyboard)) => {
                self.s.status |= status::OBF;
                self.s.outport |= outport::KBD_OBF;
                kbd = self.s.ctr & ctr::KBD_INT != 0;
            }
            Some((_, Source::Mouse)) => {
                self.s.status |= status::OBF | status::AUX_OBF;
                self.s.outport |= outport::AUX_OBF;
                mouse = self.s.ctr & ctr::AUX_INT != 0;
            }
            None => {}
        }
        if kbd != self.levels[0] {
            self.levels[0] = kbd;
            self.irq_kbd.set_level(kbd);
        }
        if mouse != self.levels[1] {
            self.levels[1] = mouse;
            self.irq_mouse.set_level(mouse);
        }
    }
}

/// An [`I8042`] shared between its two port adapters.
pub type SharedI8042 = Arc<Mutex<I8042>>;

/// The adapter for one of the controller's ports (0x60 or 0x64); each is a
/// one-port range on the bus.
#[derive(Clone)]
pub struct I8042Port {
    i8042: SharedI8042,
    port: u8,
}

impl I8042Port {
    /// The data port, at [`I8042_DATA_PORT`].
    pub fn data(i8042: SharedI8042) -> I8042Port {
        I8042Port { i8042, port: 0 }
    }

    /// The status/command port, at [`I8042_COMMAND_PORT`].
    pub fn command(i8042: SharedI8042) -> I8042Port {
        I8042Port { i8042, port: 4 }
    }
}

impl std::fmt::Debug for I8042Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("I8042Port")
            .field("port", &self.port)
            .finish()
    }
}

impl mem::BusDevice for I8042Port {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        let mut c = self.i8042.lock();
        for (i, byte) in data.iter_mut().enumerate() {
            *byte = if offset.checked_add(i as u64) == Some(0) {
                c.read(self.port)
            } else {
                0xFF
            };
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        if let (0, Some(&value)) = (offset, data.first()) {
            self.i8042.lock().write(self.port, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use mem::{Attention, BusDevice};

    use super::*;
    use crate::irq::IrqRecorder;

    fn kbc() -> (I8042, IrqRecorder, IrqRecorder, PowerControl) {
        let k = IrqRecorder::default();
        let m = IrqRecorder::default();
        let power = PowerControl::new(Arc::new(Attention::default()));
        let c = I8042::new(Box::new(k.clone()), Box::new(m.clone()), power.clone());
        (c, k, m, power)
    }

    /// Sends a controller command and returns what arrives, as Linux's
    /// `i8042_command` reads it.
    fn command(c: &mut I8042, cmd: u8, param: Option<u8>) -> Vec<u8> {
        c.write(4, cmd);
        if let Some(p) = param {
            c.write(0, p);
        }
        drain(c)
    }

    fn drain(c: &mut I8042) -> Vec<u8> {
        let mut out = Vec::new();
        while c.read(4) & status::OBF != 0 && out.len() < 64 {
            out.push(c.read(0));
        }
        out
    }

    #[test]
    fn i8042_self_test_answers_55() {
        let (mut c, _, _, _) = kbc();
        assert_eq!(command(&mut c, 0xAA, None), vec![0x55]);
        assert_ne!(c.read(4) & status::SYS, 0);
    }

    #[test]
    fn i8042_ctr_reads_back_what_was_written() {
        let (mut c, _, _, _) = kbc();
        assert_eq!(command(&mut c, 0x20, None), vec![0x61]);
        command(&mut c, 0x60, Some(0x47));
        assert_eq!(command(&mut c, 0x20, None), vec![0x47]);
    }

    #[test]
    fn i8042_aux_loopback_sets_aux_obf_and_irq12() {
        let (mut c, _, m, _) = kbc();
        command(&mut c, 0x60, Some(ctr::AUX_INT | ctr::XLATE));
        c.write(4, 0xD3);
        c.write(0, 0x5A);
        assert_eq!(c.read(4) & status::AUX_OBF, status::AUX_OBF);
        assert!(m.level());
        assert_eq!(c.read(0), 0x5A);
        assert!(!m.level());
    }

    #[test]
    fn i8042_aux_disable_and_enable_show_in_ctr() {
        let (mut c, _, _, _) = kbc();
        command(&mut c, 0xA8, None);
        assert_eq!(command(&mut c, 0x20, None)[0] & ctr::AUX_DISABLE, 0);
        command(&mut c, 0xA7, None);
        assert_ne!(command(&mut c, 0x20, None)[0] & ctr::AUX_DISABLE, 0);
    }

    #[test]
    fn i8042_reset_command_requests_reset() {
        let (mut c, _, _, power) = kbc();
        c.write(4, 0xFE);
        assert_eq!(power.take(), Some(PowerEvent::Reset));
        c.write(4, 0xF3); // pulse bits 2 and 3 only
        assert_eq!(power.take(), None);
        c.write(4, 0xD1);
        c.write(0, 0x02);
        assert_eq!(power.take(), Some(PowerEvent::Reset));
    }

    #[test]
    fn i8042_keyboard_reset_and_get_id_with_irq1() {
        let (mut c, k, _, _) = kbc();
        c.write(0, 0xFF);
        assert!(k.level());
        assert_eq!(drain(&mut c), vec![ACK, SELF_TEST_OK]);
        assert!(!k.level());
        c.write(0, 0xF2);
        assert_eq!(drain(&mut c), vec![ACK, 0xAB, 0x41], "translated MF2");
    }

    #[test]
    fn i8042_each_reply_byte_is_a_new_irq1_edge() {
        let (mut c, k, _, _) = kbc();
        let before = k.rising_edges();
        c.write(0, 0xF2);
        assert_eq!(drain(&mut c), vec![ACK, 0xAB, 0x41]);
        assert_eq!(k.rising_edges() - before, 3, "one interrupt per byte");
    }

    #[test]
    fn i8042_mouse_knocks_give_explorer_id() {
        let (mut c, _, _, _) = kbc();
        let send = |c: &mut I8042, b: u8| {
            c.write(4, 0xD4);
            c.write(0, b);
            drain(c)
        };
        assert_eq!(send(&mut c, 0xFF), vec![ACK, SELF_TEST_OK, 0]);
        for rate in [200, 100, 80] {
            send(&mut c, 0xF3);
            send(&mut c, rate);
        }
        assert_eq!(send(&mut c, 0xF2), vec![ACK, 3]);
        for rate in [200, 200, 80] {
            send(&mut c, 0xF3);
            send(&mut c, rate);
        }
        assert_eq!(send(&mut c, 0xF2), vec![ACK, 4]);
    }

    #[test]
    fn i8042_queues_are_bounded() {
        let (mut c, _, _, _) = kbc();
        for _ in 0..100 {
            c.write(0, 0xF2);
        }
        assert!(drain(&mut c).len() <= QUEUE_DEPTH + 1);
    }

    #[test]
    fn i8042_empty_data_read_repeats_last_byte() {
        let (mut c, _, _, _) = kbc();
        command(&mut c, 0xAA, None);
        assert_eq!(c.read(0), 0x55);
    }

    #[test]
    fn i8042_hostile_bytes_do_not_panic() {
        let (mut c, _, _, _) = kbc();
        for a in 0..=255u8 {
            for b in [0u8, 0x60, 0xD4, 0xF3, 0xFF, a] {
                c.write(4, a);
                c.write(0, b);
                c.read(0);
                c.read(4);
                c.write(0, a);
            }
        }
        drain(&mut c);
    }

    #[test]
    fn i8042_port_adapters_reach_controller() {
        let power = PowerControl::new(Arc::new(Attention::default()));
        let shared: SharedI8042 = Arc::new(Mutex::new(I8042::new(
            Box::new(crate::irq::NoIrq),
            Box::new(crate::irq::NoIrq),
            power,
        )));
        let mut data = I8042Port::data(shared.clone());
        let mut cmd = I8042Port::command(shared);
        cmd.write(0, &[0xAA]);
        let mut b = [0u8; 2];
        cmd.read(0, &mut b);
        assert_eq!(b[0] & status::OBF, status::OBF);
        assert_eq!(b[1], 0xFF);
        data.read(0, &mut b[..1]);
        assert_eq!(b[0], 0x55);
    }
}
